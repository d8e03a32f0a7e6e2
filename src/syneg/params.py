"""The only way a stage reads params: exactly the keys it declares, plus the ``runtime`` section.

Each stage script declares the keys of ``params.yaml`` whose values shape its outputs in a ``PARAMS`` constant
beside its code (so changing one stage's list changes only that stage's script, and reruns only it); dvc.yaml
lists exactly these keys (``python -m syneg.dag`` checks it, and a test mutates every key and asks
``dvc status``). :func:`for_stage` hands the stage only those keys plus the ``runtime`` section, so code cannot
read a key DVC does not track. ``runtime`` holds knobs that change speed and never a result (encode batch
size, LLM threads, slots, timeouts, concurrency); no stage declares it, so changing one reruns nothing.

``${llm.backend}`` in a key is resolved against the params themselves, as DVC's templating does: a stage
depends on the settings of the LLM backend in use, not on those of the others.

Example:
    >>> p = Params({"mine": {"depth": 1000, "keep": 30}, "model": {"base": "m", "max_seq_length": 256},
    ...             "runtime": {"encode_batch_size": 64}}, ("mine", "model.base"), "mine")
    >>> p.get("model.base"), p.section("mine")["keep"], p.runtime("encode_batch_size")
    ('m', 30, 64)
    >>> p.get("model.max_seq_length")  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    syneg.params.ParamsError: stage 'mine' reads 'model.max_seq_length' but does not declare it: ...
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Sequence, TypeVar

import yaml

from syneg.errors import UserError

T = TypeVar("T")
RUNTIME = "runtime"
#: What a ``runtime`` knob is when params.yaml leaves it out.
RUNTIME_DEFAULTS: dict[str, Any] = {"encode_batch_size": 64, "encode_processes": 1, "search_chunk_size": 4096}
POSITIVE_INTS = {"encode_batch_size", "encode_processes", "search_chunk_size"}  # runtime knobs checked where they are read


class ParamsError(UserError, ValueError):
    """A parameter is missing or has a value the stage cannot use."""


def read(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The whole params file as a dict (a one-line error naming the file when it is not YAML)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ParamsError(f"{path}: no such params file. Run from the project root or pass --params.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ParamsError(f"{path}:{where} is not valid YAML ({getattr(exc, 'problem', exc)}).") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping of sections, got {type(data).__name__}.")
    return data


_RAISE = object()


def lookup(data: Any, key: str, default: Any = _RAISE) -> Any:
    """The value at dotted ``key`` of nested dicts; ``default`` where a part is missing, else ``KeyError``.

    Example:
        >>> lookup({"finetuned": {"ndcg@10": 0.69}}, "finetuned.ndcg@10"), lookup({}, "a.b", None)
        (0.69, None)
    """
    node: Any = data
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _RAISE:
                raise KeyError(key)
            return default
        node = node[part]
    return node


def resolve(text: str, data: dict[str, Any]) -> str:
    """``text`` with each ``${dotted.key}`` replaced by that key's value in ``data`` (DVC's templating)."""
    def sub(match: re.Match) -> str:
        try:
            return str(lookup(data, match.group(1)))
        except KeyError:
            raise ParamsError(f"params.yaml: '{match.group(1)}' is missing (needed to resolve '{text}').") from None

    return re.sub(r"\$\{([^}]+)\}", sub, text)


def declared(keys: Sequence[str], data: dict[str, Any]) -> tuple[str, ...]:
    """``keys`` (a stage's ``PARAMS``) resolved against the params ``data``."""
    out = []
    for key in keys:
        name = resolve(key, data)
        if name != key and lookup(data, name, None) is None:  # e.g. llm.backend names no section
            parent = name.rpartition(".")[0]
            choices = sorted(k for k, v in lookup(data, parent, {}).items() if isinstance(v, dict))
            used = " and ".join(f"{n} is {lookup(data, n)!r}" for n in re.findall(r"\$\{([^}]+)\}", key))
            raise ParamsError(f"params.yaml: {used}, which has no section {name}; use one of {', '.join(choices)}.")
        out.append(name)
    return tuple(out)


def _restrict(data: dict[str, Any], keys: tuple[str, ...], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        try:
            value = lookup(data, key)
        except KeyError:
            raise ParamsError(f"{source}: '{key}' is missing. Add it (see params.yaml in the repository and "
                              f"the README's parameter table).") from None
        node = out
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


class Params:
    """The params one stage may read: its declared keys, and the ``runtime`` section.

    Args:
        data: the params file's contents.
        keys: the declared keys, resolved (see :func:`declared`).
        stage: the stage's name, for error messages.
        source: the params file's name, for error messages.
    """

    def __init__(self, data: dict[str, Any], keys: tuple[str, ...], stage: str, source: str = "params.yaml"):
        self.stage, self.source, self.keys = stage, source, keys
        self._data = _restrict(data, keys, source)
        self._runtime = dict(data.get(RUNTIME) or {})

    def _missing(self, key: str) -> ParamsError:
        return ParamsError(f"stage '{self.stage}' reads '{key}' but does not declare it: add it to the PARAMS "
                           f"of its script and to the stage's params in dvc.yaml (python -m syneg.dag --write).")

    def get(self, key: str) -> Any:
        """The value of dotted ``key``, which the stage must declare (or a section above it)."""
        try:
            return lookup(self._data, key)
        except KeyError:
            raise self._missing(key) from None

    def section(self, name: str) -> dict[str, Any]:
        """The section ``name`` as declared: the whole section, or only its declared keys."""
        value = self.get(name)
        if not isinstance(value, dict):
            raise ParamsError(f"{self.source}: '{name}' should be a section (a mapping), got {value!r}.")
        return dict(value)

    def runtime(self, key: str) -> Any:
        """A ``runtime`` knob (speed only, never a result); :data:`RUNTIME_DEFAULTS` when it is not set."""
        try:
            value = lookup(self._runtime, key)
        except KeyError:
            return RUNTIME_DEFAULTS.get(key)
        if key in POSITIVE_INTS and not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
            raise ParamsError(f"{self.source}: {RUNTIME}.{key} is {value!r}; use a whole number >= 1.")
        return value

    @property
    def runtime_section(self) -> dict[str, Any]:
        """The whole ``runtime`` section (for a backend that takes its own part of it)."""
        return dict(self._runtime)

    def build(self, cls: type[T], name: str, **extra: Any) -> T:
        """The dataclass ``cls`` from the section ``name`` (all of it declared), refusing unknown keys."""
        return build(cls, self.section(name), name, self.source, **extra)


TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true or false", list: "a list",
              dict: "a mapping", type(None): "null"}


def _fits(value: Any, kind: type) -> bool:
    """``value`` is of the declared ``kind``: an int is a number, a bool is neither an int nor a number."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, kind)


def _allowed(hint: Any) -> tuple[type, ...] | None:
    """The types a field's annotation admits (``float | None`` -> ``(float, NoneType)``); None when it is not
    a plain union of classes (left to the dataclass to check)."""
    import types
    import typing

    union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    allowed = tuple(typing.get_origin(a) or a for a in (typing.get_args(hint) if union else (hint,)))
    if not all(isinstance(a, type) for a in allowed) or object in allowed or Any in allowed:
        return None
    return allowed


def _type_error(cls: type, values: dict[str, Any]) -> str | None:
    """The first value of ``values`` whose type the dataclass ``cls`` does not declare, as ``key is 'abc' (a
    string); expected a number``. An int is a number; a bool is neither; ``None`` only where the type allows it."""
    import typing

    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # an annotation that cannot be resolved: leave the check to the class
        return None
    for key, value in values.items():
        allowed = _allowed(hints[key]) if key in hints else None
        if allowed and not any(_fits(value, t) for t in allowed):
            expected = " or ".join(TYPE_NAMES.get(t, t.__name__) for t in allowed)
            return f"{key} is {value!r} ({TYPE_NAMES.get(type(value), type(value).__name__)}); expected {expected}"
    return None


def build(cls: type[T], values: dict[str, Any], name: str, source: str = "params.yaml", **extra: Any) -> T:
    """The dataclass ``cls`` from ``values`` (the section ``name``), refusing unknown keys and values of the
    wrong type in one line that names the key, the value and what is allowed."""
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ParamsError(f"{source}: unknown key(s) {', '.join(f'{name}.{k}' for k in unknown)}; "
                          f"known: {', '.join(sorted(names - set(extra)))}.")
    wrong = _type_error(cls, values)
    if wrong:
        raise ParamsError(f"{source}: {name}.{wrong}")
    try:
        return cls(**values, **extra)
    except (TypeError, ValueError) as exc:
        raise ParamsError(f"{source}: section '{name}': {exc}") from exc


def for_stage(stage: str, keys: Sequence[str], path: str | Path = "params.yaml") -> Params:
    """The params the stage ``stage``, which declares ``keys``, may read from the file at ``path``."""
    data = read(path)
    return Params(data, declared(keys, data), stage, str(path))
