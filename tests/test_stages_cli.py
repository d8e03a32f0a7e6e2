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
