"""The synthesize and reflect stages as users run them, with a real local LLM (SmolLM2-135M through llama.cpp,
in process): a cold run asks the model, a warm run replays the answer store without loading it, and the outputs
are the same."""

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml

from syneg.data import store
from syneg.io import write_parquet
from syneg.llm.gguf import fetch_packaged
from syneg.sandbox import ROOT, stage_args

pytest.importorskip("llama_cpp")
N = 4


@pytest.fixture
def workspace(tmp_path):
    texts = ["Statin therapy reduced ischemic stroke by 21% in adults over 65 in a five-year trial.",
             "Seasonal influenza vaccination cut hospital admissions of the elderly by a third.",
             "Aspirin lowered the risk of a second heart attack but raised bleeding with dose.",
             "Trust in public health agencies predicted vaccine uptake in a national survey."]
    ds = store.Dataset(
        corpus=pd.DataFrame({"doc_id": [f"d{i}" for i in range(N)], "title": "", "text": texts}),
        queries=pd.DataFrame({"query_id": [f"q{i}" for i in range(N)],
                              "text": ["Statins prevent strokes.", "Flu shots keep the old out of hospital.",
                                       "Aspirin prevents repeat heart attacks.", "Trust drives vaccination."]}),
        qrels=pd.DataFrame({"split": "train", "query_id": [f"q{i}" for i in range(N)],
                            "doc_id": [f"d{i}" for i in range(N)], "score": 1}),
    )
    store.save(ds, tmp_path / "data/scifact/prepared", {"dataset": "scifact"})
    pairs = pd.DataFrame({"query_id": [f"q{i}" for i in range(N)], "pos_id": [f"d{i}" for i in range(N)]})
    write_parquet(tmp_path / "data/scifact/mined/pairs.parquet", pairs)
    write_parquet(tmp_path / "data/scifact/mined/candidates.parquet", pairs.assign(doc_id=[f"d{(i + 1) % N}" for i in range(N)],
                                                                           rank=1))
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["llm"].update(backend="llamacpp", max_tokens=400, max_failed_share=0.5)
    params["synthesize"]["prompt"] = "no_attributes_no_reflection"  # SmolLM2 rambles: the shortest answers
    params["llm"]["llamacpp"].update(model=str(fetch_packaged("smollm2-135m-instruct-q4_1", install=False)),
                                     n_ctx=2048)
    params["runtime"]["llamacpp"].update(mode="in_process", n_threads=1)
    params["reflect"]["model_check"] = False  # the base model's check is tested elsewhere
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp_path


def run(folder, stage):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SYNEG_CACHE_DIR": str(folder / ".cache")}
    env.pop("OPENAI_API_KEY", None)  # a local model needs no key
    script, *paths = stage_args(stage)
    res = subprocess.run([sys.executable, str(ROOT / script), *paths], cwd=folder, env=env,
                         capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads((folder / f"metrics/scifact/{stage}.json").read_text())


def test_stages_ask_a_real_local_llm_once_then_replay_without_loading_it(workspace):
    cold = run(workspace, "synthesize")
    assert cold["backend"] == "llamacpp" and cold["stand_in"] is False
    assert cold["requests"] >= N and cold["completion_tokens"] > 0 and cold["cost_usd"] == 0.0
    assert cold["engine"]["mode"] == "in_process" and cold["engine"]["prompt_tokens_reused"] > 0
    negatives = pd.read_parquet(workspace / "data/scifact/synthetic/negatives.parquet")
    assert len(negatives) > 0 and set(negatives["backend"]) == {"llamacpp"}

    warm = run(workspace, "synthesize")
    assert warm["requests"] == 0 and warm["cache_hits"] == cold["requests"] and "engine" not in warm
    pd.testing.assert_frame_equal(pd.read_parquet(workspace / "data/scifact/synthetic/negatives.parquet"), negatives)

    critique = run(workspace, "reflect")
    assert critique["critique"] == "on" and critique["llm"]["requests"] >= critique["critiqued"] > 0  # + re-asks
    assert sum(critique["verdicts"].values()) == critique["critiqued"]
    again = run(workspace, "reflect")
    assert again["llm"]["requests"] == 0 and again["verdicts"] == critique["verdicts"]
    assert list((workspace / "data/scifact/llm_cache/synthesize").glob("pack-*.jsonl.gz"))


def test_variants_run_the_pipeline_code_on_a_subset_and_replay(workspace):
    params = yaml.safe_load((workspace / "params.yaml").read_text())
    params["llm"]["max_tokens"] = 700  # room for the edit variant's 250-word target
    (workspace / "params.yaml").write_text(yaml.safe_dump(params))
    cand = pd.read_parquet(workspace / "data/scifact/mined/candidates.parquet")
    write_parquet(workspace / "data/scifact/mined/candidates.parquet", cand.assign(score=0.5, pos_score=0.8))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SYNEG_CACHE_DIR": str(workspace / ".cache")}
    cmd = [sys.executable, "-m", "syneg.variants", "--only", "today", "--only", "edit", "--pairs", "3"]
    cold = subprocess.run(cmd, cwd=workspace, env=env, capture_output=True, text=True, timeout=900)
    assert cold.returncode == 0, cold.stderr[-3000:]
    table = json.loads((workspace / "metrics/scifact/variants.json").read_text())
    today, edit = table["rows"]["today"], table["rows"]["edit"]
    assert (today["pairs"], today["requests_planned"], edit["requests_planned"]) == (3, 3, 6)  # 2 per pair, 1 a request
    assert edit["llm"]["synthesize"]["requests"] >= 6 and edit["synthetic_written"] <= 6
    assert 0 <= edit["kept_share"] <= 1 and edit["synthetic_slots_asked"] == 3
    assert "| edit |" in cold.stdout and "| today |" in cold.stdout
    warm = subprocess.run(cmd, cwd=workspace, env=env, capture_output=True, text=True, timeout=900)
    again = json.loads((workspace / "metrics/scifact/variants.json").read_text())["rows"]["edit"]
    assert warm.returncode == 0 and again["llm"]["synthesize"]["requests"] == 0  # every answer from the store
    assert again["kept"] == edit["kept"] and again["synthetic_written"] == edit["synthetic_written"]
    bad = subprocess.run([*cmd[:3], "--only", "nope"], cwd=workspace, env=env, capture_output=True, text=True)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("error: --only 'nope': no such variant")
