"""Small helpers the stage scripts share: logging, threads, and typed params sections."""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from typing import Any, TypeVar

import click

from syneg.params import ParamsError, load_section

T = TypeVar("T")


def run(app: Any) -> None:
    """Run a stage's Typer app; a known failure (bad params or data, too many failed LLM items, a missing
    model) ends it with one line on stderr and exit status 1, so DVC records nothing, without a traceback."""
    from syneg.data.store import DataError
    from syneg.llm.asking import TooManyFailures
    from syneg.llm.gguf import ModelFileError
    from syneg.llm.llama_server import ServerError

    try:
        app(standalone_mode=False)
    except (ParamsError, DataError, TooManyFailures, ModelFileError, ServerError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    except click.exceptions.Exit as exc:
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.exceptions.Abort:
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


def config(cls: type[T], section: str, params: str = "params.yaml", drop: tuple[str, ...] = ()) -> T:
    """Build the dataclass ``cls`` from the params section ``section``, refusing unknown keys."""
    data: dict[str, Any] = dict(load_section(section, params))
    for key in drop:
        data.pop(key, None)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ParamsError(f"{params}: unknown key(s) {', '.join(f'{section}.{k}' for k in unknown)}; "
                          f"known: {', '.join(sorted(names))}.")
    try:
        return cls(**data)
    except (TypeError, ValueError) as exc:
        raise ParamsError(f"{params}: section '{section}': {exc}") from exc
