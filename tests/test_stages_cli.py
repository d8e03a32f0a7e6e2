"""Every stage script explains every option with --help, and the params loader refuses unknown keys."""

import subprocess
import sys

import pytest

from syneg.mixing import MixConfig
from syneg.params import ParamsError, for_stage
from syneg.sandbox import ROOT

STAGES = ["prepare", "encode", "mine", "synthesize", "reflect", "reflect_check", "mix", "diagnose", "train",
          "retrieve", "baselines", "evaluate", "card"]


@pytest.mark.parametrize("stage", STAGES)
def test_help_lists_every_option(stage):
    res = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py"), "--help"], capture_output=True,
                         text=True, cwd=ROOT, env={"COLUMNS": "200", "PATH": "/usr/bin:/bin", "TERM": "dumb"})
    assert res.returncode == 0, res.stderr
    assert "--params" in res.stdout and "Usage" in res.stdout
    assert res.stdout.count("--") >= 3


def test_unknown_param_key_names_the_known_ones(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("mix:\n  ratio: 0.5\n  ratoi: 1\n")
    with pytest.raises(ParamsError, match=r"unknown key\(s\) mix.ratoi; known: .*ratio"):
        for_stage("mix", ("mix",), p).build(MixConfig, "mix")
    p.write_text("train: {}\n")
    with pytest.raises(ParamsError, match=f"{p}: 'mix' is missing"):
        for_stage("mix", ("mix",), p)


def test_a_stage_that_cannot_start_says_why_in_one_line_and_exits_1(tmp_path):
    import yaml

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["llm"]["backend"] = "anthropic"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    paths = ["--data", "p", "--mined", "m", "--out", "o", "--llm-cache", "c", "--metrics", "m.json"]
    res = subprocess.run([sys.executable, str(ROOT / "stages" / "synthesize.py"), *paths], capture_output=True,
                         text=True, cwd=tmp_path)
    assert res.returncode == 1 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        "error: params.yaml: llm.backend is 'anthropic', which has no section llm.anthropic; use one of llamacpp, "
        "offline, openai, transformers."]


@pytest.mark.parametrize("section, key, value, message", [
    ("mix", "ratio", "abc", "mix.ratio is 'abc' (a string); expected a number"),
    ("mix", "num_negatives", 2.5, "mix.num_negatives is 2.5 (a number); expected an integer"),
    ("mix", "strategy", 3, "mix.strategy is 3 (an integer); expected a string"),
    ("train", "batch_size", True, "train.batch_size is True (true or false); expected an integer"),
    ("train", "learning_rate", None, "train.learning_rate is None (null); expected a number"),
])
def test_a_param_of_the_wrong_type_is_named_with_its_value_and_what_is_allowed(tmp_path, section, key, value,
                                                                               message):
    import yaml

    from syneg.training import TrainConfig

    cls = {"mix": MixConfig, "train": TrainConfig}[section]
    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({section: {key: value}}))
    with pytest.raises(ParamsError) as err:
        for_stage(section, (section,), p).build(cls, section)
    assert str(err.value) == f"{p}: {message}"


@pytest.mark.parametrize("value", [0, -1, "64", 2.5, True])
def test_an_encode_batch_size_that_encodes_nothing_is_refused(tmp_path, value):
    import yaml

    p = tmp_path / "params.yaml"
    p.write_text(yaml.safe_dump({"model": {"base": "m"}, "runtime": {"encode_batch_size": value}}))
    with pytest.raises(ParamsError, match=rf"runtime.encode_batch_size is {value!r}; use a whole number >= 1"):
        for_stage("encode_base", ("model.base",), p).runtime("encode_batch_size")
