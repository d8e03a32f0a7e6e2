"""Docs that cannot rot: links and anchors resolve, every params key is documented once with its default,
and every command shown names something that exists.

``python -m syneg.doccheck`` prints one line per problem (file, line, what, the fix) and exits 1 when there is
any; ``tests/test_docs.py`` runs it on the project and on broken copies.

Example:
    >>> slug("Speed and scale (`model.backend`)!")
    'speed-and-scale-modelbackend'
    >>> flat({"a": {"b": 1, "c": [2]}})
    {'a.b': 1, 'a.c': [2]}
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
PARAMS_PAGE = "docs/parameters.md"
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([\w+-]*)")
SHELL_LANGS = {"bash", "sh", "shell", "console"}


def pages(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def _prose(text: str) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, numbered from 1."""
    out, fence = [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match and (fence is None or match.group(2).startswith(fence)):
            fence = match.group(2)[:3] if fence is None else None
            continue
        if fence is None:
            out.append((number, line))
    return out


def code_blocks(text: str) -> list[tuple[int, str, list[tuple[int, str]]]]:
    """Each fenced block as ``(line of the fence, language, [(line number, line), ...])``."""
    blocks, current = [], None
    for number, line in enumerate(text.splitlines(), 1):
        match = FENCE.match(line)
        if match and current is None:
            current = (number, match.group(3).lower(), [])
        elif match and current is not None and not match.group(3):
            blocks.append(current)
            current = None
        elif current is not None:
            current[2].append((number, line))
    return blocks


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading keeps its text
    text = re.sub(r"[`*_~]|<[^>]+>", "", text.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a page has: its headings' slugs, repeats numbered ``-1``, ``-2`` as GitHub does."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in _prose(path.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return out


def check_links(root: Path = ROOT) -> list[str]:
    """Every relative link of README.md and docs/ to a file that exists, and every ``#anchor`` to a heading."""
    problems = []
    for page in pages(root):
        for number, line in _prose(page.read_text(encoding="utf-8")):
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                    continue
                where, _, anchor = target.partition("#")
                dest = (page.parent / where).resolve() if where else page
                rel = page.relative_to(root)
                if not dest.exists():
                    problems.append(f"{rel}:{number}: link to {where}, which does not exist; fix the path")
                elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                    problems.append(f"{rel}:{number}: link to #{anchor} in {dest.relative_to(root)}, which has no "
                                    f"such heading; use one of its headings' anchors")
    return problems


def flat(data: dict, prefix: str = "") -> dict[str, Any]:
    """Leaf keys of a params mapping as dotted paths (lists are values)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flat(value, f"{path}."))
        else:
            out[path] = value
    return out


def as_yaml(value: Any) -> str:
    """``value`` as one line of YAML flow style, as a row's default is written (``[a, b]``, ``{x: 1}``, ``42``)."""
    return yaml.safe_dump([value], default_flow_style=True, width=10**6, allow_unicode=True).strip()[1:-1]


def _lookup(data: dict, dotted: str) -> tuple[bool, Any]:
    """``(found, value)`` of the key ``a.b.c`` in nested ``data``; a key may itself hold dots (``gpt-4.1``)."""
    if dotted in data:
        return True, data[dotted]
    for key, value in data.items():
        if isinstance(value, dict) and dotted.startswith(f"{key}."):
            found, got = _lookup(value, dotted[len(key) + 1:])
            if found:
                return True, got
    return False, None


def documented(page: Path) -> list[tuple[int, str, str]]:
    """The parameters page's rows: ``(line, key, default cell)``, the key and default written as code."""
    rows = []
    for number, line in _prose(page.read_text(encoding="utf-8")):
        cells = [c.strip() for c in line.strip().strip("|").split("|")] if line.lstrip().startswith("|") else []
        if len(cells) >= 2 and re.fullmatch(r"`[^`]+`", cells[0]):
            rows.append((number, cells[0].strip("`"), cells[1]))
    return rows


def check_params(root: Path = ROOT) -> list[str]:
    """Every leaf key of params.yaml covered by exactly one row of the parameters page (the row names the key
    or a mapping above it), each row's default equal to the value params.yaml has, and no row for a key that
    params.yaml lacks."""
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    page = root / PARAMS_PAGE
    if not page.exists():
        return [f"{PARAMS_PAGE}: missing; document every key of params.yaml there"]
    problems, covered = [], {}
    leaves = flat(params)
    for number, key, default in documented(page):
        found, value = _lookup(params, key)
        where = f"{PARAMS_PAGE}:{number}"
        if not found:
            problems.append(f"{where}: `{key}` is not a key of params.yaml; remove the row or fix its name")
            continue
        try:
            written = yaml.safe_load(default.strip("`")) if re.fullmatch(r"`[^`]*`", default) else default
        except yaml.YAMLError:
            written = default
        if written != value:
            problems.append(f"{where}: `{key}` default is {default!r} here but {as_yaml(value)!r} in params.yaml; "
                            f"write params.yaml's value as code")
        for leaf in leaves:
            if leaf == key or leaf.startswith(f"{key}."):
                covered.setdefault(leaf, []).append(number)
    for leaf in leaves:
        lines = covered.get(leaf, [])
        if not lines:
            problems.append(f"{PARAMS_PAGE}: params.yaml key `{leaf}` is not documented; add a row with its default")
        elif len(lines) > 1:
            problems.append(f"{PARAMS_PAGE}: `{leaf}` is documented {len(lines)} times (lines "
                            f"{', '.join(map(str, lines))}); keep one row")
    return problems


def make_targets(root: Path) -> set[str]:
    text = (root / "Makefile").read_text(encoding="utf-8")
    return {t for line in text.splitlines() for t in re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", line)}


def stage_names(root: Path) -> set[str]:
    return set(yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"])


def _module_exists(name: str, root: Path) -> bool:
    import importlib.util

    parts = name.split(".")
    src = root / "src" / Path(*parts)
    if src.with_suffix(".py").exists() or (src / "__init__.py").exists():
        return True
    if parts[0] == "syneg":  # ours must be in src/, whatever is installed
        return False
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def _commands(lines: list[tuple[int, str]]) -> list[tuple[int, list[str]]]:
    """Shell lines of a block, continuations joined, prompts and comments dropped, split at ``&&``, ``;``,
    ``|`` and parentheses."""
    out, pending, start = [], "", 0
    for number, line in lines:
        text = re.sub(r"^\s*\$\s+", "", line)
        if not pending:
            start = number
        if text.rstrip().endswith("\\"):
            pending += text.rstrip()[:-1] + " "
            continue
        full, pending = pending + text, ""
        try:
            words = shlex.split(full, comments=True)
        except ValueError:
            words = full.split()
        current: list[str] = []
        for word in words + [";"]:
            if word in ("&&", "||", ";", "|", "(", ")") or word.endswith(";"):
                if word.endswith(";") and word != ";":
                    current.append(word[:-1])
                if current:
                    out.append((start, current))
                current = []
            else:
                current.append(word.strip("()"))
    return out


def _check_command(words: list[str], root: Path, targets: set[str], stages: set[str],
                   params: dict) -> str | None:
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):  # VAR=value before the command
        words = words[1:]
    if not words:
        return None
    tool, args = words[0], words[1:]
    if tool == "make":
        names = [a for a in args if not a.startswith("-") and "=" not in a]
        missing = [n for n in names if n not in targets]
        return f"make target {missing[0]!r} is not in the Makefile" if missing else None
    if tool in ("python", "python3", "torchrun") or tool.endswith("/python"):
        if "-m" in args:
            module = args[args.index("-m") + 1]
            return None if _module_exists(module, root) else f"module {module!r} does not exist"
        script = next((a for a in args if a.endswith(".py")), None)
        if script and not (root / script).exists():
            return f"script {script} does not exist"
        return None
    if tool == "accelerate" and args[:1] == ["launch"]:
        script = next((a for a in args if a.endswith(".py")), None)
        return f"script {script} does not exist" if script and not (root / script).exists() else None
    if tool == "dvc":
        sub = args[:2]
        if sub[:1] == ["repro"] or sub == ["commit", "-f"] or sub[:1] == ["commit"]:
            for target in (a for a in args[1:] if not a.startswith("-")):
                stage = target.split("@", 1)[0]
                if stage not in stages:
                    return f"dvc stage {stage!r} is not in dvc.yaml"
        for i, arg in enumerate(args):
            if arg in ("-S", "--set-param") and i + 1 < len(args):
                key = args[i + 1].split("=", 1)[0]
                if not _lookup(params, key)[0]:
                    return f"params key {key!r} (in -S) is not in params.yaml"
        return None
    return None


def check_commands(root: Path = ROOT) -> list[str]:
    """Every command of a shell block (```bash) that runs ``make``, ``python``, ``torchrun``, ``accelerate`` or
    ``dvc`` names a make target, module, script, stage or params key that exists."""
    targets, stages = make_targets(root), stage_names(root)
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    problems = []
    for page in pages(root):
        for _, lang, lines in code_blocks(page.read_text(encoding="utf-8")):
            if lang not in SHELL_LANGS:
                continue
            for number, words in _commands(lines):
                problem = _check_command(words, root, targets, stages, params)
                if problem:
                    problems.append(f"{page.relative_to(root)}:{number}: {problem}; fix the command or the docs")
    return problems


def check(root: Path = ROOT) -> list[str]:
    return check_links(root) + check_params(root) + check_commands(root)


def main() -> int:
    problems = check()
    for line in problems:
        print(line, file=sys.stderr)
    print(f"{len(pages())} pages checked: {len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
