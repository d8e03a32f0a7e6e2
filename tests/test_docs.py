"""Docs that cannot rot: the project's pages pass the checks, and each check fails on a broken copy."""

import shutil
from pathlib import Path

import pytest
import yaml

from syneg import doccheck

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def copy(tmp_path):
    """The files the checks read, copied so a test can break them."""
    for name in ("README.md", "params.yaml", "Makefile", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    for name in ("stages", "src", "benchmarks", "data", "metrics", "tests"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


def test_every_link_anchor_params_key_and_command_in_the_docs_holds():
    assert doccheck.check(ROOT) == []


def test_the_readme_is_an_entry_page_and_every_page_says_what_it_holds():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 220
    for page in sorted((ROOT / "docs").glob("*.md")):
        lines = page.read_text().splitlines()
        assert lines[0].startswith("# ") and lines[1] == "" and lines[2] and not lines[2].startswith("#"), page.name
        assert f"(docs/{page.name})" in (ROOT / "README.md").read_text(), f"README.md does not link {page.name}"


def test_a_broken_link_and_a_missing_anchor_are_found(copy):
    readme = copy / "README.md"
    readme.write_text(readme.read_text() + "\nSee [gone](docs/nowhere.md) and [that](docs/speed.md#no-such-part).\n")
    line = len(readme.read_text().splitlines())
    assert doccheck.check_links(copy) == [
        f"README.md:{line}: link to docs/nowhere.md, which does not exist; fix the path",
        f"README.md:{line}: link to #no-such-part in docs/speed.md, which has no such heading; use one of its "
        f"headings' anchors",
    ]


def test_an_undocumented_key_a_wrong_default_a_repeat_and_an_unknown_row_are_found(copy):
    params = yaml.safe_load((copy / "params.yaml").read_text())
    params["mix"]["new_knob"] = 3
    (copy / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    page = copy / doccheck.PARAMS_PAGE
    text = page.read_text().replace("| `mix.seed` | `42` |", "| `mix.seed` | `43` |")
    text = text.replace("| `mix.strategy` |", "| `mix.gone` | `1` | removed |\n| `mix.strategy` |")
    text += "\n| key | default | meaning |\n| --- | --- | --- |\n| `evaluate.depth` | `100` | again |\n"
    page.write_text(text)
    problems = doccheck.check_params(copy)
    lines = text.splitlines()
    at = {key: lines.index(next(l for l in lines if l.startswith(f"| `{key}` | `{d}`"))) + 1
          for key, d in (("mix.seed", "43"), ("mix.gone", "1"))}
    depth = [i + 1 for i, l in enumerate(lines) if l.startswith("| `evaluate.depth` |")]
    assert sorted(problems) == sorted([
        f"docs/parameters.md:{at['mix.seed']}: `mix.seed` default is '43' here but '42' in params.yaml; write "
        f"params.yaml's value as code",
        f"docs/parameters.md:{at['mix.gone']}: `mix.gone` is not a key of params.yaml; remove the row or fix its name",
        "docs/parameters.md: params.yaml key `mix.new_knob` is not documented; add a row with its default",
        f"docs/parameters.md: `evaluate.depth` is documented 2 times (lines {depth[0]}, {depth[1]}); keep one row",
    ])


def test_a_command_that_names_nothing_is_found(copy):
    page = copy / "docs" / "development.md"
    page.write_text(page.read_text() + """
```bash
make nothing-here
python stages/nope.py --data x && python -m syneg.nope
dvc repro nostage@scifact
dvc exp run -S mix.ratio=0.5 \\
  -S mix.nope=1
SYNEG_BEIR_DIR=../shared/data/beir make repro   # fine
```
""")
    n = len(page.read_text().splitlines())
    assert doccheck.check_commands(copy) == [
        f"docs/development.md:{n - 6}: make target 'nothing-here' is not in the Makefile; fix the command or the docs",
        f"docs/development.md:{n - 5}: script stages/nope.py does not exist; fix the command or the docs",
        f"docs/development.md:{n - 5}: module 'syneg.nope' does not exist; fix the command or the docs",
        f"docs/development.md:{n - 4}: dvc stage 'nostage' is not in dvc.yaml; fix the command or the docs",
        f"docs/development.md:{n - 3}: params key 'mix.nope' (in -S) is not in params.yaml; fix the command or the "
        f"docs",
    ]


def test_github_anchors():
    assert doccheck.slug("What it survives") == "what-it-survives"
    assert doccheck.slug("Parameters (`params.yaml`)") == "parameters-paramsyaml"
    assert doccheck.slug("runtime (speed only)") == "runtime-speed-only"
    assert doccheck.slug("τ and `train.temperature`: 0.05") == "τ-and-traintemperature-005"


def test_fences_titles_underscores_and_options_are_read_as_github_and_make_read_them(copy):
    page = copy / "docs" / "method.md"
    page.write_text(page.read_text() + """
## The reflect_check stage

See [it](#the-reflect_check-stage "a title") and [speed](speed.md#measured).

````markdown
```bash
make nothing-inside-a-longer-fence
```
````

```bash
make -C . -j 4 test && python -m syneg.dag
dvc exp run -S params.yaml:mix.ratio=0.5 --set-param=mix.nope=1
```
""")
    n = len(page.read_text().splitlines())
    assert doccheck.check_links(copy) == []
    assert doccheck.check_commands(copy) == [
        f"docs/method.md:{n - 1}: params key 'mix.nope' (in -S) is not in params.yaml; fix the command or the docs"]
