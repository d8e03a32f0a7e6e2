"""Check every section of params.yaml before any stage runs: all problems at once, one line each.

Each stage checks its own section when it starts, but in a 20-minute pipeline a wrong ``train.epochs`` would
otherwise be found only after every stage before ``train`` ran. ``make repro`` runs this first; it builds
every stage's typed config from the file (types, ranges, enumerations), checks the dataset lists and the
``runtime`` knobs, and exits 1 with every problem found. It sends nothing and loads no model.

Usage::

    python -m syneg.preflight              # params.yaml
    python -m syneg.preflight --params p.yaml

Example:
    >>> problems({"mix": {"ratio": "abc"}}, "p.yaml")[:1]  # doctest: +SKIP
    ["p.yaml: mix.ratio is 'abc' (a string); expected a number"]
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from syneg.params import Params, ParamsError, read


def _sections() -> list[tuple[str, type]]:
    from syneg.judging import JudgeConfig
    from syneg.mining import MineConfig
    from syneg.mixing import MixConfig
    from syneg.reflect_check import CheckConfig
    from syneg.reflection import ReflectConfig
    from syneg.synthesis import SynthesizeConfig
    from syneg.training import TrainConfig

    return [("mine", MineConfig), ("synthesize", SynthesizeConfig), ("reflect", ReflectConfig),
            ("reflect_check", CheckConfig), ("judge", JudgeConfig), ("mix", MixConfig), ("train", TrainConfig)]


def problems(data: dict[str, Any], source: str = "params.yaml") -> list[str]:
    """Every problem of the params ``data``, one line each; empty when every stage would accept them."""
    from syneg.data.fetch import check_lists
    from syneg.backends import check_backend
    from syneg.llm.config import LLMConfig

    found: list[str] = []

    def check(keys, build):
        try:
            build(Params(data, keys, "preflight", source))
        except (ParamsError, ValueError, TypeError) as exc:
            found.append(str(exc))

    d = data.get("data") or {}
    check(("data",), lambda p: check_lists(d.get("datasets"), d.get("train"), source))
    for name, cls in _sections():
        check((name,), lambda p, n=name, c=cls: p.build(c, n))
    for key in ("model.base", "model.max_seq_length"):
        check((key,), lambda p, k=key: p.get(k))
    check(("llm",), lambda p: p.build(LLMConfig, "llm", runtime=p.runtime_section))
    check(("model.precision", "model.backend"),
          lambda p: check_backend(p.get("model.backend"), p.get("model.precision")))
    for knob in ("encode_batch_size", "encode_processes", "search_chunk_size"):
        check((), lambda p, k=knob: p.runtime(k))
    return found


def main(params: Path = typer.Option(Path("params.yaml"), help="The params file to check.")) -> None:
    """Exit 1 with every params problem, one line each; print one line when there is none."""
    try:
        found = problems(read(params), str(params))
    except ParamsError as exc:
        found = [str(exc)]
    for line in found:
        typer.echo(f"error: {line}", err=True)
    if found:
        raise typer.Exit(1)
    typer.echo(f"{params}: every section is valid for every stage.")


if __name__ == "__main__":
    typer.run(main)
