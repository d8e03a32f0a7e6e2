"""Small helpers the stage scripts share: one-line errors and quiet, offline logging."""

from __future__ import annotations

import errno
import logging
import os
import sys
import traceback
from typing import Any

from syneg import lifetime
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


#: Errors of the machine, not of the code, that a user fixes outside the project: one line, no traceback.
MACHINE_ERRNOS = {errno.ENOSPC: "free space on that disk", errno.EDQUOT: "free space within your disk quota",
                  errno.EROFS: "put the project on a writable disk", errno.EACCES: "fix its permissions",
                  errno.EPERM: "fix its permissions"}


def debugging() -> bool:
    """True when the stage runs with ``--debug`` or ``SYNEG_DEBUG=1``: a user error keeps its traceback."""
    return "--debug" in sys.argv[1:] or os.environ.get("SYNEG_DEBUG", "") not in ("", "0")


def _machine_error(exc: OSError) -> str | None:
    if exc.errno not in MACHINE_ERRNOS:
        return None
    where = exc.filename or "a file this stage writes"
    return f"{where}: {exc.strerror or os.strerror(exc.errno)}; {MACHINE_ERRNOS[exc.errno]} and rerun."


def run(app: Any) -> None:
    """Run a stage's Typer app; a known failure (bad params or data, too many failed LLM items, a missing
    model, a full disk or a folder it may not write) ends it with one line on stderr and exit status 1, so DVC
    records nothing, without a traceback; with ``--debug`` (any stage) or ``SYNEG_DEBUG=1`` (e.g. ``SYNEG_DEBUG=1
    dvc repro``) the traceback is printed first. Any other exception is a bug and keeps its traceback.

    On success the small files the stage wrote are kept aside; on any failure the outputs of this stage
    that DVC deleted before the run are put back from there when they are exactly what dvc.lock records
    (:func:`syneg.io.restore_last_good`): a failed rerun leaves the last good metrics in place."""
    from syneg import io

    debug = debugging()
    if "--debug" in sys.argv[1:]:
        sys.argv.remove("--debug")
    exits, usage, aborts = _classes("Exit"), _classes("ClickException"), _classes("Abort")
    ok = False
    try:
        app(standalone_mode=False)
        ok = True
    except UserError as exc:
        _fail(f"error: {exc}", debug)
    except OSError as exc:
        line = _machine_error(exc)
        if line is None:
            raise
        _fail(f"error: {line}", debug)
    except exits as exc:
        ok = exc.exit_code == 0
        raise SystemExit(exc.exit_code) from None
    except usage as exc:  # a missing or malformed option: the usage line and the message, no traceback
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except aborts:
        print("Aborted.", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if ok:
            io.keep_last_good()
        else:
            io.restore_last_good(sys.argv[1:])


def _fail(line: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(line, file=sys.stderr)
    raise SystemExit(1) from None


def setup(stage: str) -> None:
    """Quiet, timestamped logs; stable thread count so the same params give the same numbers; the stage ends
    with DVC, the process that started it (:func:`syneg.lifetime.die_with_parent`)."""
    lifetime.die_with_parent()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {stage} %(levelname)s %(message)s")
    for noisy in ("httpx", "httpx2", "openai", "sentence_transformers", "datasets", "transformers", "dvc", "urllib3",
                  "faiss", "beir"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
