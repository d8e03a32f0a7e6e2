"""Read one section of ``params.yaml``: each stage reads only the sections dvc.yaml declares for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ParamsError(ValueError):
    """A parameter is missing or has a value the stage cannot use."""


def load_section(name: str, path: str | Path = "params.yaml") -> dict[str, Any]:
    """Return the section ``name`` of the params file.

    Raises:
        ParamsError: naming the file and the missing section.
    """
    path = Path(path)
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if name not in data:
        raise ParamsError(f"{path}: no section '{name}'. Add it (see the README's parameter table).")
    return data[name]


def require(section: dict[str, Any], key: str, where: str) -> Any:
    if key not in section:
        raise ParamsError(f"params.yaml: '{where}.{key}' is missing. Add it (see the README's parameter table).")
    return section[key]
