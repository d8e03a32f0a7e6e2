"""make repro checks every params section before the first stage: all problems at once, one line each."""

import subprocess
import sys

import yaml

from syneg.preflight import problems
from syneg.sandbox import ROOT

PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def test_the_committed_params_pass():
    assert problems(PARAMS) == []


def test_every_problem_is_reported_at_once_before_any_stage_runs(tmp_path):
    bad = yaml.safe_load((ROOT / "params.yaml").read_text())
    bad["mix"]["ratio"] = "abc"
    bad["train"]["epochs"] = 0
    bad["data"]["train"] = ["fiqa"]
    bad["runtime"]["encode_batch_size"] = 0
    bad["llm"]["temperature"] = "hot"
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(bad))
    res = subprocess.run([sys.executable, "-m", "syneg.preflight"], cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 5 and all(line.startswith("error: params.yaml: ") for line in lines)
    for fragment in ("data.train names 'fiqa'", "mix.ratio is 'abc'", "train.epochs is 0",
                     "llm.temperature is 'hot'", "runtime.encode_batch_size is 0"):
        assert any(fragment in line for line in lines), fragment
