"""Atomic file writing and small JSON helpers: nothing a stage writes is ever left half-written."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd


WRITTEN: list[Path] = []  # every path this process renamed into place (see keep_last_good)
TMP_MARK = ".tmp-"  # `.<name>.tmp-<pid>-<random>`: a temporary beside its output (ignored by git)
# Before TMP_MARK (2026-11), temporaries were mkdtemp folders `.<name>.<8 characters>`, with no pid to tell
# whether their writer still runs; no version makes them now, so such a folder beside an output is a leftover
# (a file of that form is not: it was never one of ours).
LEGACY_TMP = re.compile(r"[a-z0-9_]{8}")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


UMASK = _umask()  # read once, at import (os.umask is process-wide, not thread-safe)


def _owner_gone(tmp: Path) -> bool:
    """True when the process that made ``tmp`` (its pid is in the name) no longer runs."""
    try:
        pid = int(tmp.name.rsplit(TMP_MARK, 1)[1].split("-", 1)[0])
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (ValueError, IndexError, PermissionError, OSError):
        return False
    return False


def _share(target: Path) -> None:
    """Give ``target`` (and all under it) the modes the user's umask gives new files: mkdtemp makes 0700."""
    paths = [target, *target.rglob("*")] if target.is_dir() else [target]
    for p in paths:
        if not p.is_symlink():
            p.chmod((0o777 if p.is_dir() else 0o666) & ~UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``.

    The rename happens only when the block finishes without an exception, so a crash or ``kill -9`` leaves
    either the old file or no file, never a truncated one. A temporary that a killed process left beside
    ``path`` is removed the next time ``path`` is written (so is a folder in the form earlier versions used,
    ``.<name>.<8 characters>``); what is renamed gets the user's umask modes.

    Example:
        >>> with atomic_path("/tmp/syneg-doc.txt") as tmp:
        ...     _ = tmp.write_text("done")
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}{TMP_MARK}"
    for stale in path.parent.glob(f"{prefix}*"):
        if _owner_gone(stale):
            shutil.rmtree(stale, ignore_errors=True)
    for legacy in path.parent.glob(f".{path.name}.????????"):
        if LEGACY_TMP.fullmatch(legacy.name[len(path.name) + 2:]) and legacy.is_dir() and not legacy.is_symlink():
            shutil.rmtree(legacy, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=path.parent))
    target = tmp if is_dir else tmp / path.name
    try:
        yield target
        _share(target)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
        WRITTEN.append(path)
    except OSError as exc:
        if exc.filename is None and exc.errno is not None:  # write() names no file: name the output
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented, key-sorted JSON, atomically (stable bytes for DVC and git diffs)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def write_parquet(path: str | os.PathLike, frame: pd.DataFrame) -> None:
    """Write ``frame`` to parquet atomically, without the index, so equal frames give equal bytes."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False, compression="zstd")


def read_parquet(path: str | os.PathLike) -> pd.DataFrame:
    return pd.read_parquet(path)


KEEP_LIMIT = 16 * 2**20  # bytes: metrics, manifests, tables; never model weights


def _last_good() -> Path:
    return Path(os.environ.get("SYNEG_CACHE_DIR", ".cache/syneg")) / "last-good"


def _md5(path: Path) -> str:
    import hashlib

    h = hashlib.md5()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def keep_last_good() -> int:
    """Copy each file of at most :data:`KEEP_LIMIT` bytes this process wrote into a content-addressed store
    (``$SYNEG_CACHE_DIR/last-good/<md5>``), so that a failed rerun can put it back; returns how many.

    DVC deletes a stage's outputs before running it, and its ``cache: false`` metrics exist nowhere else
    until committed: without this, a failed rerun would leave no metrics at all."""
    kept = 0
    for path in dict.fromkeys(WRITTEN):
        if path.is_file() and path.stat().st_size <= KEEP_LIMIT:
            digest = _md5(path)
            dest = _last_good() / digest[:2] / digest
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp = dest.with_name(f".{digest}{TMP_MARK}{os.getpid()}")
                shutil.copyfile(path, tmp)
                os.replace(tmp, dest)
            kept += 1
    return kept


def restore_last_good(argv: list[str], lock: str | os.PathLike = "dvc.lock") -> list[str]:
    """After a failed run: put back each output ``lock`` records that is missing (DVC deleted it before the
    run) and lies at or under a path in ``argv`` (this stage's), when the store holds the exact bytes the lock
    records. Returns the paths restored."""
    lock = Path(lock)
    if not lock.is_file():
        return []
    import yaml

    mine = [Path(a).as_posix().rstrip("/") for a in argv if "/" in a or "." in a]
    restored = []
    for stage in (yaml.safe_load(lock.read_text(encoding="utf-8")) or {}).get("stages", {}).values():
        for out in stage.get("outs") or []:
            path, md5 = str(out.get("path", "")), str(out.get("md5", ""))
            if not path or not md5 or md5.endswith(".dir") or Path(path).exists():
                continue
            if not any(path == m or path.startswith(m + "/") for m in mine):
                continue
            src = _last_good() / md5[:2] / md5
            if src.is_file():
                with atomic_path(path) as tmp:
                    shutil.copyfile(src, tmp)
                restored.append(path)
    return restored


TIMINGS = Path("timings")  # untracked: wall-clock figures would make equal runs give unequal metrics files


def split_timings(stats: dict[str, Any]) -> dict[str, Any]:
    """Move every wall-clock figure (keys ending in ``seconds`` or ``per_second``) out of ``stats``, nested
    blocks included, and return them; what stays is the same for equal runs.

    Example:
        >>> s = {"requests": 3, "wall_seconds": 2.5, "engine": {"tokens": 9, "tokens_per_second": 3.6}}
        >>> split_timings(s), s
        ({'wall_seconds': 2.5, 'engine': {'tokens_per_second': 3.6}}, {'requests': 3, 'engine': {'tokens': 9}})
    """
    out: dict[str, Any] = {}
    for key in list(stats):
        value = stats[key]
        if isinstance(value, dict):
            inner = split_timings(value)
            if inner:
                out[key] = inner
        elif key.endswith(("seconds", "per_second")):
            out[key] = stats.pop(key)
    return out


def write_timings(metrics: str | os.PathLike, timings: dict[str, Any]) -> None:
    """Write a stage's wall-clock figures beside its metrics file's name in ``timings/`` (not tracked by git or
    DVC): ``metrics/scifact/train.json`` -> ``timings/scifact/train.json``."""
    path = Path(metrics)
    write_json(TIMINGS / path.parent.name / path.name, timings)
