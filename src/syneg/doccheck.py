"""Docs that cannot rot: links and anchors resolve, every params key is documented once with its default,
and every command shown names something that exists.

Pages are parsed with markdown-it-py (CommonMark, the parser ``rich`` already brings): its tokens give the
headings, the links, the tables and the fenced blocks, so a fence, a title in a link or a table cell is read
as GitHub reads it. ``python -m syneg.doccheck`` prints one line per problem (file, line, what, the fix) and
exits 1 when there is any; ``tests/test_docs.py`` runs it on the project and on broken copies.

Example:
    >>> slug("Speed and scale (`model.backend`)!"), slug("reflect_check")
    ('speed-and-scale-modelbackend', 'reflect_check')
"""

from __future__ import annotations

import functools
import re
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import yaml

ROOT = Path(__file__).resolve().parents[2]
PARAMS_PAGE = "docs/parameters.md"
SHELL_LANGS = {"bash", "sh", "shell", "console"}
TOOLS = ("make", "python", "python3", "torchrun", "accelerate", "dvc")


@dataclass(frozen=True)
class Page:
    """A Markdown page as markdown-it-py's tokens."""

    path: Path
    tokens: tuple

    @classmethod
    def read(cls, path: Path) -> "Page":
        stat = path.stat()
        return _parse(path, stat.st_mtime_ns, stat.st_size)

    def inlines(self, inside: str | None = None) -> Iterator[tuple[int, Any]]:
        """``(line, inline token)`` of every inline run, or only of those inside ``inside`` (``th``, ``td``,
        ``heading``)."""
        stack: list[str] = []
        for token in self.tokens:
            if token.nesting == 1:
                stack.append(token.type[:-5])
            elif token.nesting == -1 and stack:
                stack.pop()
            elif token.type == "inline" and (inside is None or (stack and stack[-1] == inside)):
                yield (token.map[0] + 1 if token.map else 0), token

    def fences(self) -> Iterator[tuple[int, str, str]]:
        """``(line of the first line of code, language, code)`` of every fenced block."""
        for token in self.tokens:
            if token.type == "fence":
                yield token.map[0] + 2, token.info.strip().split(" ")[0].lower(), token.content


@functools.lru_cache(maxsize=64)
def _parse(path: Path, mtime_ns: int, size: int) -> Page:
    """A page's tokens, parsed once per version of the file (anchors are asked for once per link)."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark").enable("table")
    return Page(path, tuple(md.parse(path.read_text(encoding="utf-8"))))


def pages(root: Path = ROOT) -> list[Path]:
    """README.md and every Markdown page under docs/."""
    return [root / "README.md", *sorted((root / "docs").rglob("*.md"))]


def _plain(inline) -> str:
    """The text an inline run renders to (code spans and link texts included, markup dropped)."""
    return "".join(child.content for child in inline.children or () if child.type in ("text", "code_inline"))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's rendered text: lower case, punctuation other than ``-`` and ``_`` dropped,
    spaces to hyphens (a heading written with markup: pass its rendered text, as :func:`anchors` does)."""
    text = heading.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a page has: its headings' slugs, repeats numbered ``-1``, ``-2`` as GitHub does."""
    seen: dict[str, int] = {}
    out = set()
    for _, inline in Page.read(path).inlines("heading"):
        base = slug(_plain(inline))
        count = seen.get(base, 0)
        out.add(base if count == 0 else f"{base}-{count}")
        seen[base] = count + 1
    return out


def check_links(root: Path = ROOT) -> list[str]:
    """Every relative link of README.md and docs/ to a file that exists, and every ``#anchor`` to a heading."""
    from urllib.parse import unquote

    problems = []
    for page in pages(root):
        rel = page.relative_to(root)
        for number, inline in Page.read(page).inlines():
            for child in inline.children or ():
                if child.type not in ("link_open", "image"):
                    continue
                target = str(child.attrs.get("href") or child.attrs.get("src") or "")
                if not target or re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
                    continue
                where, _, anchor = target.partition("#")
                where = unquote(where)
                dest = (page.parent / where).resolve() if where else page
                if not dest.exists():
                    problems.append(f"{rel}:{number}: link to {where}, which does not exist; fix the path")
                elif anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest):
                    problems.append(f"{rel}:{number}: link to #{anchor} in {dest.relative_to(root)}, which has no "
                                    f"such heading; use one of its headings' anchors")
    return problems


def flat(data: dict) -> dict[str, Any]:
    """Leaf keys of a params mapping as dotted paths, with their values (lists are values).

    Example:
        >>> flat({"a": {"b": 1, "c": [2]}})
        {'a.b': 1, 'a.c': [2]}
    """
    from syneg.dag import leaves

    def value(path: tuple[str, ...]) -> Any:
        node: Any = data
        for part in path:
            node = node[part]
        return node

    return {".".join(path): value(path) for path in leaves(data)}


def lookup(data: dict, dotted: str) -> tuple[bool, Any]:
    """``(found, value)`` of the key ``a.b.c`` in nested ``data``; a key may itself hold dots (``gpt-4.1``)."""
    if dotted in data:
        return True, data[dotted]
    for key, value in data.items():
        if isinstance(value, dict) and dotted.startswith(f"{key}."):
            found, got = lookup(value, dotted[len(key) + 1:])
            if found:
                return True, got
    return False, None


def as_yaml(value: Any) -> str:
    """``value`` as one line of YAML flow style, as a row's default is written (``[a, b]``, ``{x: 1}``, ``42``)."""
    return yaml.safe_dump([value], default_flow_style=True, width=10**6, allow_unicode=True).strip()[1:-1]


def documented(page: Path) -> list[tuple[int, str, str]]:
    """The parameters page's table rows: ``(line, key, default)``, when the first cell is a key written as
    code; the default is the second cell's code (or its text when it has none)."""
    rows, cells, start = [], [], 0
    for token in Page.read(page).tokens:
        if token.type == "tr_open":
            cells, start = [], (token.map[0] + 1 if token.map else 0)
        elif token.type == "inline" and cells is not None:
            cells.append(token)
        elif token.type == "tr_close" and len(cells) >= 2:
            key = [c.content for c in cells[0].children or () if c.type == "code_inline"]
            code = [c.content for c in cells[1].children or () if c.type == "code_inline"]
            if len(key) == 1 and _plain(cells[0]).strip() == key[0]:
                rows.append((start, key[0], code[0] if len(code) == 1 else cells[1].content))
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
        found, value = lookup(params, key)
        where = f"{PARAMS_PAGE}:{number}"
        if not found:
            problems.append(f"{where}: `{key}` is not a key of params.yaml; remove the row or fix its name")
            continue
        try:
            written = yaml.safe_load(default)
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


def _commands(code: str, first: int) -> list[tuple[int, list[str]]]:
    """Shell lines of a block (the first at line ``first``), continuations joined, prompts and comments
    dropped, split at ``&&``, ``||``, ``;``, ``|`` and parentheses."""
    out, pending, start = [], "", first
    for number, line in enumerate(code.splitlines(), first):
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


MAKE_OPTIONS_WITH_VALUE = {"-C", "-f", "-j", "-l", "-o", "-W", "-I", "--directory", "--file", "--jobs"}


def _params_key(setting: str) -> str:
    """The key of a ``-S`` value: ``key=value`` or ``file.yaml:key=value``."""
    key = setting.split("=", 1)[0]
    return key.split(":", 1)[1] if ":" in key else key


def _check_command(words: list[str], root: Path, targets: set[str], stages: set[str],
                   params: dict) -> str | None:
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):  # VAR=value before the command
        words = words[1:]
    if not words or words[0] not in TOOLS and not words[0].endswith("/python"):
        return None
    tool, args = words[0], words[1:]
    if tool == "make":
        names, skip = [], False
        for arg in args:
            if skip:
                skip = False
            elif arg in MAKE_OPTIONS_WITH_VALUE:
                skip = True
            elif not arg.startswith("-") and "=" not in arg:
                names.append(arg)
        missing = [n for n in names if n not in targets]
        return f"make target {missing[0]!r} is not in the Makefile" if missing else None
    if tool == "accelerate" and args[:1] != ["launch"]:
        return None
    if tool in ("python", "python3", "torchrun", "accelerate") or tool.endswith("/python"):
        if "-m" in args:
            if args.index("-m") + 1 >= len(args):
                return "python -m names no module"
            module = args[args.index("-m") + 1]
            return None if _module_exists(module, root) else f"module {module!r} does not exist"
        script = next((a for a in args if a.endswith(".py")), None)
        return f"script {script} does not exist" if script and not (root / script).exists() else None
    # dvc
    if args[:1] in (["repro"], ["commit"]):
        for target in (a for a in args[1:] if not a.startswith("-")):
            stage = target.split("@", 1)[0]
            if stage not in stages:
                return f"dvc stage {stage!r} is not in dvc.yaml"
    for i, arg in enumerate(args):
        setting = args[i + 1] if arg in ("-S", "--set-param") and i + 1 < len(args) else \
            arg.split("=", 1)[1] if arg.startswith("--set-param=") else None
        if setting is not None and not lookup(params, _params_key(setting))[0]:
            return f"params key {_params_key(setting)!r} (in -S) is not in params.yaml"
    return None


def check_commands(root: Path = ROOT) -> list[str]:
    """Every command of a shell block (```bash) that runs ``make``, ``python``, ``torchrun``, ``accelerate`` or
    ``dvc`` names a make target, module, script, stage or params key that exists."""
    targets, stages = make_targets(root), stage_names(root)
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    problems = []
    for page in pages(root):
        for first, lang, code in Page.read(page).fences():
            if lang not in SHELL_LANGS:
                continue
            for number, words in _commands(code, first):
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
