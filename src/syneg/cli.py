"""Small helpers the stage scripts share: one-line errors and quiet, offline logging."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from syneg.errors import UserError


def _classes(name: str) -> tuple[type, ...]:
    """The exception class ``name`` from click, Typer, and Typer's vendored click (Typer 0.29 ships its own)."""
    import importlib

    found = []
    for module in ("click.exceptions", "typer.exceptions", "typer._click.exceptions", "typer"):
        try:
            cls = getattr(importlib.import_module(module), name, None)
        except ImportError:
            continue
        if isinstance(cls, type) and cls not in found:
            found.append(cls)
    return tuple(found)


def run(app: Any) -> None:
    """Run a stage's Typer app; a known failure (bad params or data, too many failed LLM items, a missing
    model) ends it with one line on stderr and exit status 1, so DVC records nothing, without a traceback."""
    exits, usage, aborts = _classes("Exit"), _classes("ClickException"), _classes("Abort")
    try:
        app(standalone_mode=False)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except exits as exc:
        raise SystemExit(exc.exit_code) from None
    except usage as exc:  # a missing or malformed option: the usage line and the message, no traceback
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except aborts:
        print("Aborted.", file=sys.stderr)
        raise SystemExit(1) from None


def setup(stage: str) -> None:
    """Quiet, timestamped logs; stable thread count so the same params give the same numbers."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {stage} %(levelname)s %(message)s")
    for noisy in ("httpx", "httpx2", "openai", "sentence_transformers", "datasets", "transformers", "dvc", "urllib3",
                  "faiss", "beir"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
