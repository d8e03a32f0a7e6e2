"""dvc.yaml declares exactly what each stage reads: every params key reruns its readers and nothing else."""

from __future__ import annotations

import ast
import dataclasses
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from syneg.dag import LISTS, base_name, check, import_closure, leaves, readers
from syneg.llm.config import LLMConfig
from syneg.mining import MineConfig
from syneg.mixing import MixConfig
from syneg.llm.config import LLM_KEYS
from syneg.params import declared, read
from syneg.reflect_check import CheckConfig
from syneg.reflection import ReflectConfig
from syneg.sandbox import ROOT
from syneg.synthesis import SynthesizeConfig
from syneg.training import TrainConfig


def test_dvc_yaml_lists_exactly_the_params_and_source_each_stage_reads():
    assert check(ROOT / "dvc.yaml") == []


def test_the_check_names_each_drift(tmp_path):
    doc = yaml.safe_load((ROOT / "dvc.yaml").read_text())
    doc["stages"]["synthesize"]["do"]["deps"].remove("src/syneg/models.py")  # issue 9 found exactly this one
    doc["stages"]["mine"]["do"]["deps"].append("src/syneg/llm/asking.py")
    doc["stages"]["mine"]["do"]["params"] = ["model", "mine"]
    doc["stages"]["mix"]["do"]["cmd"] += " --extra data/elsewhere"
    doc["stages"]["train"]["do"]["cmd"] = doc["stages"]["train"]["do"]["cmd"].replace("PYTHONPATH=src ", "")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    problems = check(tmp_path / "dvc.yaml", ROOT)
    assert sorted(p.split(": ", 1)[1] for p in problems) == sorted([
        "stage 'synthesize' imports src/syneg/models.py but does not list it in deps",
        "stage 'mine' lists src/syneg/llm/asking.py in deps but does not import it",
        "stage 'mine' params are ['model', 'mine']; the code reads ['mine']",
        "stage 'mix' passes data/elsewhere but lists it (or a file in it) in no deps or outs",
        "stage 'train' command does not start with 'SYNEG_PARENT=$PPID PYTHONPATH=src python stages/': a queued or "
        "--temp experiment would import the main checkout's code, not its own src/, and a stage would not know "
        "DVC's pid to end with it",
    ])


def test_the_import_closure_follows_lazy_imports_and_package_inits():
    closure = import_closure(Path("stages/synthesize.py"))
    assert {"src/syneg/__init__.py", "src/syneg/llm/__init__.py", "src/syneg/llm/offline.py",
            "src/syneg/llm/llamacpp_backend.py"} <= closure  # offline and llamacpp are imported inside functions
    assert "src/syneg/training.py" not in closure and "src/syneg/retrieval/dense.py" not in closure
    assert not any("llm" in p for p in import_closure(Path("stages/mix.py")))  # one-line errors import no LLM code


def test_stage_scripts_take_every_path_from_dvc_yaml():
    for script in sorted((ROOT / "stages").glob("*.py")):
        for node in ast.walk(ast.parse(script.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "Option" and node.args:
                default = node.args[0]
                if isinstance(default, ast.Call) and getattr(default.func, "id", "") == "Path":
                    assert ast.literal_eval(default.args[0]) == "params.yaml", f"{script.name}: a path default"


@pytest.mark.parametrize("cls, section", [(MineConfig, "mine"), (SynthesizeConfig, "synthesize"),
                                          (ReflectConfig, "reflect"), (CheckConfig, "reflect_check"),
                                          (MixConfig, "mix"), (TrainConfig, "train"), (LLMConfig, "llm")])
def test_code_defaults_agree_with_params_yaml(cls, section):
    values = read(ROOT / "params.yaml")[section]
    for f in dataclasses.fields(cls):
        if f.name == "runtime":
            continue
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        assert f.name in values, f"params.yaml has no {section}.{f.name}"
        if default not in ({}, []):  # per-backend tables and lists live only in params.yaml
            assert values[f.name] == default, f"{section}.{f.name}: code says {default}, params.yaml {values[f.name]}"


def _leaves(node):
    for leaf in leaves(node):
        value = node
        for part in leaf:  # by parts: a key may hold a dot (llm.openai.prices.gpt-4.1)
            value = value[part]
        yield leaf, value


def _mutated(value, path):
    if path == ("llm", "backend"):
        return "openai" if value != "openai" else "llamacpp"
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return [*value, "x"]
    return 1 if value is None else None


def _set(data, path, value):
    for part in path[:-1]:
        data = data[part]
    data[path[-1]] = value


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """The project's dvc.yaml, params.yaml and code in a fresh DVC repo, every stage recorded as up to date
    (placeholder data, `dvc commit --force`: no stage runs)."""
    root = tmp_path_factory.mktemp("dag")
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy(ROOT / name, root / name)
    for name in ("stages", "src"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, check=True)
    from dvc.repo import Repo

    for stage in Repo(str(root)).index.stages:  # as DVC resolves them: one per dataset, paths templated
        for entry in (*stage.deps, *stage.outs):
            path = Path(entry.fs_path)
            if path.is_relative_to(root) and not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("placeholder\n")
    res = subprocess.run([sys.executable, "-m", "dvc", "commit", "--force", "-q"], cwd=root, capture_output=True,
                         text=True)
    assert res.returncode == 0, res.stderr
    return root


def test_every_params_key_invalidates_exactly_the_stages_that_read_it(recorded):
    from dvc.repo import Repo

    assert Repo(str(recorded)).status() == {}
    original = (recorded / "params.yaml").read_text()
    params = yaml.safe_load(original)
    table = readers(params, recorded / "dvc.yaml")
    wrong, runtime_keys = [], 0
    for path, value in _leaves(params):
        data = yaml.safe_load(original)
        _set(data, path, _mutated(value, path))
        (recorded / "params.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
        expected = set(table[".".join(path)])
        status = Repo(str(recorded)).status()
        if ".".join(path) in LISTS:  # a dataset 'x' added: its stages appear, every recorded one is unchanged
            assert status and all(name.endswith("@x") for name in status), status
            continue
        got = {base_name(name) for name in status}
        if got != expected:
            wrong.append(f"{'.'.join(path)}: dvc status {sorted(got)}, readers {sorted(expected)}")
        runtime_keys += path[0] == "runtime" and not got
    (recorded / "params.yaml").write_text(original)
    assert wrong == []
    assert runtime_keys >= 14  # encode batch size, LLM threads, slots, timeouts, concurrency: rerun nothing
    assert Repo(str(recorded)).status() == {}


def test_another_backend_settings_rerun_nothing(recorded):
    from dvc.repo import Repo

    params = read(recorded / "params.yaml")
    assert params["llm"]["backend"] == "llamacpp"
    assert "llm.openai" not in declared(LLM_KEYS, params) and "llm.llamacpp" in declared(LLM_KEYS, params)
    params["llm"]["backend"] = "openai"
    assert "llm.openai" in declared(LLM_KEYS, params) and "llm.llamacpp" not in declared(LLM_KEYS, params)
    assert readers(read(recorded / "params.yaml"), recorded / "dvc.yaml")["llm.openai.model"] == []
    assert Repo(str(recorded)).status() == {}


def test_a_stage_imports_the_src_beside_it_not_the_editable_install(tmp_path):
    """What a queued or --temp experiment relies on: its copy of src/ wins over the main checkout's."""
    from syneg.dag import CMD_PREFIX

    shutil.copytree(ROOT / "src" / "syneg", tmp_path / "src" / "syneg", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "stages").mkdir()
    (tmp_path / "stages" / "where.py").write_text("import syneg\nprint(syneg.__file__)\n")
    cmd = CMD_PREFIX.replace("python", sys.executable) + "where.py"
    out = subprocess.run(["sh", "-c", cmd], cwd=tmp_path, capture_output=True, text=True, check=True).stdout
    assert Path(out.strip()).resolve() == (tmp_path / "src" / "syneg" / "__init__.py").resolve()
