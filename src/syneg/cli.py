"""Small helpers the stage scripts share: logging, threads, and typed params sections."""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Any, TypeVar

from syneg.params import ParamsError, load_section

T = TypeVar("T")


def setup(stage: str) -> None:
    """Quiet, timestamped logs; stable thread count so the same params give the same numbers."""
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {stage} %(levelname)s %(message)s")
    for noisy in ("httpx", "sentence_transformers", "datasets", "transformers", "dvc", "urllib3", "faiss", "beir"):
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
