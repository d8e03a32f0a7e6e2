"""Check (or write) dvc.yaml against the code: each stage's params and source deps, exactly.

A stage's params are the keys its script's ``PARAMS`` declares; its source deps are its script,
every ``syneg`` module the script imports directly or through other modules (each package's
``__init__.py`` included, imports inside functions too), and the files in :data:`FILES`. Data deps and
outputs are dvc.yaml's own; every path a stage's command passes must be one of them (or hold one). A stage
that runs once per dataset (``foreach: ${data.datasets}`` or ``${data.train}``, DVC names each run
``<stage>@<dataset>``) is checked through its ``do:`` body.

Usage::

    python -m syneg.dag            # exit 1 with each difference when dvc.yaml has drifted
    python -m syneg.dag --write    # rewrite the params and source deps of every stage in dvc.yaml

Example:
    >>> sorted(import_closure(Path("stages/mix.py")))[:3]  # doctest: +SKIP
    ['src/syneg/__init__.py', 'src/syneg/cli.py', 'src/syneg/data/__init__.py']
"""

from __future__ import annotations

import ast
import functools
import importlib.util
import shlex
from pathlib import Path
from typing import Any

import typer

from syneg.params import declared

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "syneg"

#: The lists stages run once per item of (``foreach``): adding a dataset adds its stages, removing one removes
#: them, and no other stage reruns.
LISTS = {"data.datasets": "adds or removes that dataset's prepare, encode_base, retrieve_* and baselines",
         "data.train": "adds or removes that dataset's mine ... card"}

#: Files other than Python modules that a stage's code reads (prompt templates).
FILES: dict[str, tuple[str, ...]] = {
    "synthesize": ("src/syneg/llm/prompts/synthesize.jinja2", "src/syneg/llm/prompts/synthesize_edit.jinja2"),
    "reflect": ("src/syneg/llm/prompts/critique.jinja2",),
    "judge": ("src/syneg/llm/prompts/critique.jinja2",),
    "reflect_check": ("src/syneg/llm/prompts/critique.jinja2", "src/syneg/llm/prompts/paraphrase.jinja2"),
}


def _module_file(name: str, src: Path) -> Path | None:
    base = src.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _package_inits(name: str, src: Path) -> list[Path]:
    parts = name.split(".")
    return [p for i in range(1, len(parts)) if (p := src.joinpath(*parts[:i], "__init__.py")).is_file()]


def _imports(path: Path, src: Path) -> set[str]:
    """The ``syneg`` module names ``path`` imports (at any depth in its code)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    this = ".".join(path.relative_to(src).with_suffix("").parts) if path.is_relative_to(src) else ""
    if this.endswith(".__init__"):
        this = this[: -len(".__init__")] + ".x"
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = this.split(".")[: -node.level]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{a.name}" for a in node.names)  # kept only when it is a module
    return {n for n in names if n == PACKAGE or n.startswith(PACKAGE + ".")}


def import_closure(script: Path, root: Path = ROOT) -> set[str]:
    """Paths (relative to ``root``) of ``script`` and every ``syneg`` file it imports, transitively."""
    src = root / "src"
    seen: set[Path] = set()
    todo = [root / script]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path, src):
            found = _module_file(name, src)
            for dep in ([found] if found else []) + _package_inits(name, src):
                if dep not in seen:
                    todo.append(dep)
    return {p.relative_to(root).as_posix() for p in seen}


# A stage imports syneg from the src/ beside it: the editable install points at the main checkout, so without
# this a queued or --temp experiment (run in .dvc/tmp/exps/...) would run the workspace's code, not its commit's.
# SYNEG_PARENT=$PPID: the shell DVC runs the command through expands it to DVC's pid, which the stage watches
# (syneg.lifetime) so that it ends with DVC even when a shell or a subreaper stands between them.
CMD_PREFIX = "SYNEG_PARENT=$PPID PYTHONPATH=src python stages/"


def script_of(cmd: str) -> Path:
    """The stage script a dvc.yaml command runs (``SYNEG_PARENT=$PPID PYTHONPATH=src python stages/<script>.py ...``)."""
    words = [w for w in shlex.split(cmd) if w.endswith(".py")]
    if not words:
        raise ValueError(f"no Python script in the command {cmd!r}")
    return Path(words[0])


@functools.lru_cache(maxsize=None)
def _declarations(script: Path) -> Any:
    spec = importlib.util.spec_from_file_location(f"_syneg_stage_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # a stage script runs nothing on import (its app runs under __main__)
    if not hasattr(module, "PARAMS"):
        raise ValueError(f"{script}: no PARAMS; declare the params keys the stage reads there")
    return module.PARAMS


def stage_params(stage: str, cmd: str, root: Path = ROOT) -> tuple[str, ...]:
    """The params keys the stage ``stage`` declares: its script's ``PARAMS`` (per stage, for a script that
    several stages run)."""
    params = _declarations(root / script_of(cmd))
    if isinstance(params, dict):
        if stage not in params:
            raise ValueError(f"{script_of(cmd)}: PARAMS has no entry for stage '{stage}'")
        return tuple(params[stage])
    return tuple(params)


def expected(stage: str, cmd: str, root: Path = ROOT) -> tuple[list[str], list[str]]:
    """The params keys and source deps the stage ``stage``, which runs ``cmd``, should list in dvc.yaml."""
    script = script_of(cmd)
    code = import_closure(script, root) | set(FILES.get(stage, ()))
    return list(stage_params(stage, cmd, root)), [script.as_posix()] + sorted(code - {script.as_posix()})


def _is_code(dep: str) -> bool:
    return dep.startswith(("src/", "stages/"))


def _cmd_paths(cmd: str) -> list[str]:
    words = shlex.split(cmd)
    values = [w for prev, w in zip(words, words[1:]) if prev.startswith("--") and prev != "--params"]
    return [v.partition("=")[2] if "=" in v else v for v in values if "/" in v]  # NAME=PATH: the path


def _names(entries: list[Any]) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else str(e) for e in entries or []]


def body(stage: dict[str, Any]) -> dict[str, Any]:
    """A dvc.yaml stage's definition: its ``do:`` for a foreach stage, else itself."""
    return stage.get("do", stage) if isinstance(stage, dict) else {}


def base_name(stage: str) -> str:
    """The dvc.yaml stage a stage DVC reports ran: ``train@scifact`` -> ``train`` (a path prefix dropped too)."""
    return stage.rsplit(":", 1)[-1].split("@", 1)[0]


def check(dvc_yaml: Path, root: Path = ROOT) -> list[str]:
    """Every difference between ``dvc_yaml`` and the code, one line each; empty when they agree."""
    import yaml

    stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages", {})
    problems = []
    for name, stage in stages.items():
        stage = body(stage)
        try:
            params, code = expected(name, stage.get("cmd", ""), root)
        except ValueError as exc:
            problems.append(f"{dvc_yaml}: stage '{name}': {exc}")
            continue
        listed = _names(stage.get("params"))
        if listed != params:
            problems.append(f"{dvc_yaml}: stage '{name}' params are {listed}; the code reads {params}")
        deps = _names(stage.get("deps"))
        have = [d for d in deps if _is_code(d)]
        for missing in sorted(set(code) - set(have)):
            problems.append(f"{dvc_yaml}: stage '{name}' imports {missing} but does not list it in deps")
        for extra in sorted(set(have) - set(code)):
            problems.append(f"{dvc_yaml}: stage '{name}' lists {extra} in deps but does not import it")
        if not stage.get("cmd", "").startswith(CMD_PREFIX):
            problems.append(f"{dvc_yaml}: stage '{name}' command does not start with '{CMD_PREFIX}': a queued or "
                            f"--temp experiment would import the main checkout's code, not its own src/, and a "
                            f"stage would not know DVC's pid to end with it")
        declared = set(deps) | {n for key in ("outs", "metrics", "plots") for n in _names(stage.get(key))}
        for path in _cmd_paths(stage.get("cmd", "")):
            if not any(d == path or d.startswith(path.rstrip("/") + "/") for d in declared):
                problems.append(f"{dvc_yaml}: stage '{name}' passes {path} but lists it (or a file in it) in no "
                                f"deps or outs")
    return problems


def write(dvc_yaml: Path, root: Path = ROOT) -> None:
    """Rewrite the params and source deps of every stage in ``dvc_yaml`` (comments and data deps kept)."""
    from ruamel.yaml import YAML

    from syneg.io import atomic_path

    rt = YAML()
    rt.indent(mapping=2, sequence=2, offset=0)
    rt.width = 4096
    doc = rt.load(dvc_yaml.read_text(encoding="utf-8"))
    for name, stage in doc.get("stages", {}).items():
        stage = body(stage)
        params, code = expected(name, stage["cmd"], root)
        stage["params"] = params
        data = [d for d in stage.get("deps") or [] if not _is_code(_names([d])[0])]
        stage["deps"] = code + data
    import io

    buf = io.StringIO()
    rt.dump(doc, buf)
    lines, out, in_stages = buf.getvalue().splitlines(), [], False
    for line in lines:  # one blank line between stages, as people write them
        if line == "stages:":
            in_stages = True
        elif line and not line.startswith(" "):
            in_stages = False
        if in_stages and line.startswith("  ") and not line.startswith("   ") and out and out[-1] not in ("", "stages:"):
            out.append("")
        if line or (out and out[-1]):
            out.append(line)
    with atomic_path(dvc_yaml) as tmp:
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")


def leaves(node: Any, path: tuple[str, ...] = ()):
    """Every leaf key of a params tree as a tuple of parts (a list or an empty mapping is one leaf)."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from leaves(value, (*path, str(key)))
    else:
        yield path


def readers(params: dict[str, Any], dvc_yaml: Path = ROOT / "dvc.yaml") -> dict[str, list[str]]:
    """For every leaf key of ``params``, the stages of ``dvc_yaml`` that declare it (itself or a section above)."""
    import yaml

    stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages", {})
    keys = {name: declared(stage_params(name, body(stage)["cmd"], dvc_yaml.parent), params)
            for name, stage in stages.items()}
    return {".".join(path): [name for name, ks in keys.items()
                             if any(tuple(k.split(".")) == path[:len(k.split("."))] for k in ks)]
            for path in leaves(params)}


def invalidation_table(params: dict[str, Any], dvc_yaml: Path = ROOT / "dvc.yaml") -> str:
    """``readers`` as markdown: param key, the stages a change reruns directly (downstream stages follow
    when their inputs change)."""
    rows = ["| params key | stages it reruns |", "| --- | --- |"]
    for key, stages in readers(params, dvc_yaml).items():
        shown = ', '.join(stages) if stages else 'none'
        if key in LISTS:
            shown = f"none: {LISTS[key]}"
        rows.append(f"| `{key}` | {shown} |")
    return "\n".join(rows)


app = typer.Typer(add_completion=False)


@app.command()
def main(
    dvc_yaml: Path = typer.Option(Path("dvc.yaml"), help="The pipeline file."),
    write_: bool = typer.Option(False, "--write", help="Rewrite its params and source deps from the code."),
    table: bool = typer.Option(False, "--table", help="Print which stages each params key reruns (markdown)."),
) -> None:
    """Say where dvc.yaml's params and source deps differ from what each stage's code reads and imports."""
    root = dvc_yaml.resolve().parent
    if table:
        from syneg.params import read

        typer.echo(invalidation_table(read(root / "params.yaml"), dvc_yaml.resolve()))
        return
    if write_:
        write(dvc_yaml, root)
    problems = check(dvc_yaml, root)
    for line in problems:
        typer.echo(line, err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{dvc_yaml}: every stage lists exactly the params it reads and the source it imports.")


if __name__ == "__main__":
    app()
