"""syneg.compare: runs read from git revisions, experiments, tables and run files; seeds pooled; bad input
refused in one line with nothing written."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from syneg import compare, stats
from syneg.evaluation import METRICS, write_per_query

ROOT = Path(__file__).resolve().parents[1]


def _table(shift: float, seed: int, queries: int = 60, drop: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(0).beta(2, 2, queries)  # the same queries' difficulty for every run
    frame = pd.DataFrame({"query_id": [f"{i}" for i in range(queries)]})
    for m in METRICS:
        frame[m] = np.clip(base + shift + rng.normal(0, 0.05, queries), 0, 1)
    return frame.iloc[drop:].reset_index(drop=True)


def _commit(repo: Path, tables: dict[str, pd.DataFrame], message: str, qrels: str = "abc") -> str:
    for system, table in tables.items():
        write_per_query(repo / f"metrics/scifact/per_query/{system}.csv", table)
    (repo / "metrics/scifact/evaluate.json").write_text(json.dumps(
        {"split": "test", "ignore_identical_ids": False, "qrels_sha256": qrels}))
    (repo / "metrics/scifact/baselines.json").write_text(json.dumps(
        {"split": "test", "ignore_identical_ids": False, "qrels_sha256": qrels}))
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", message], cwd=repo, check=True)
    return subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path):
    """A git repository with a baseline commit, a better commit, and three seeds of each kept as DVC would
    keep experiments (refs/exps/<baseline[:2]>/<baseline[2:]>/<name>)."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    subprocess.run(["git", "config", "user.email", "t@t"], cwd=tmp_path, check=True)
    subprocess.run(["git", "config", "user.name", "t"], cwd=tmp_path, check=True)
    base = _commit(tmp_path, {"finetuned": _table(0.0, 1), "bm25": _table(-0.05, 9)}, "base")
    for seed in (2, 3):
        rev = _commit(tmp_path, {"finetuned": _table(0.0, seed)}, f"base seed {seed}")
        subprocess.run(["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/base-s{seed}", rev], cwd=tmp_path,
                       check=True)
    for seed in (4, 5, 6):
        rev = _commit(tmp_path, {"finetuned": _table(0.03, seed)}, f"better seed {seed}")
        subprocess.run(["git", "update-ref", f"refs/exps/{base[:2]}/{base[2:]}/better-s{seed}", rev], cwd=tmp_path,
                       check=True)
    subprocess.run(["git", "checkout", "-q", base], cwd=tmp_path, check=True)
    return tmp_path


def _systems(repo, *specs, seeds=False):
    return compare.load_systems(list(specs), None, "scifact", "finetuned", repo, None, None, seeds)


def test_three_systems_with_three_seeds_each_pool_the_seeds_and_correct_for_two_comparisons(repo):
    systems = _systems(repo, "HEAD,base-s2,base-s3", "better-s4,better-s5,better-s6", "HEAD:bm25", seeds=False)
    result = compare.compare(systems, ("ndcg@10",), resamples=2000)
    base, better, bm25 = result["metrics"]["ndcg@10"]
    assert base["runs"] == 3 and len(base["run_means"]) == 3 and base["seed_sd"] > 0
    expected = np.mean([_table(0.0, s)["ndcg@10"] for s in (1, 2, 3)], axis=0).mean()
    assert base["mean"] == pytest.approx(expected, abs=1e-6)  # the per-query mean over seeds, averaged
    assert better["diff"] == pytest.approx(better["mean"] - base["mean"], abs=1e-12)
    assert 0 < better["ci_low"] < better["diff"] < better["ci_high"] and better["p_randomization"] < 0.001
    assert bm25["diff"] < 0 and bm25["runs"] == 1 and bm25["mde"] is None  # one run: seed term unknown
    assert better["mde"] > better["mde_queries"] > 0  # seeds add to what a test can see
    assert better["p_ttest_holm"] == pytest.approx(stats.holm([better["p_ttest"], bm25["p_ttest"]])[0])
    table = compare.markdown(result)
    assert "| better-s4,better-s5,better-s6 | 3 |" in table and "Holm-corrected" in table


def test_a_per_query_table_file_is_a_run_too(repo, tmp_path_factory):
    other = tmp_path_factory.mktemp("files")
    write_per_query(other / "mine.csv", _table(0.02, 7))
    systems = _systems(repo, "HEAD", str(other / "mine.csv"))
    row = compare.compare(systems, ("mrr@10",), resamples=500)["metrics"]["mrr@10"][1]
    assert row["system"].endswith("mine.csv") and row["diff"] > 0


def test_an_archived_experiment_is_a_run_in_git_and_compares_like_the_experiment(repo):
    out = repo / "metrics/scifact/runs"
    done = subprocess.run([sys.executable, "-m", "syneg.archive", "better-s4", "base-s2", "--repo", str(repo)],
                          capture_output=True, text=True, cwd=repo)
    assert done.returncode == 0, done.stderr
    run = json.loads((out / "better-s4" / "run.json").read_text())
    assert run["baseline_commit"] == subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True,
                                                    text=True).stdout.strip()
    assert run["commit"] == compare.resolve(repo, "better-s4")
    from_refs = compare.compare(_systems(repo, "HEAD", "base-s2", "better-s4"), ("ndcg@10",), resamples=300)
    archived = compare.compare(_systems(repo, "HEAD", str(out / "base-s2"), str(out / "better-s4")), ("ndcg@10",),
                               resamples=300)
    for a, b in zip(from_refs["metrics"]["ndcg@10"], archived["metrics"]["ndcg@10"]):
        assert {k: v for k, v in a.items() if k != "system"} == {k: v for k, v in b.items() if k != "system"}
    loaded = compare.load_run(str(out / "better-s4"), "scifact", "finetuned", repo, None, None)
    assert loaded.meta["qrels_sha256"] == "abc"


def test_archiving_a_name_that_is_not_a_run_writes_nothing(repo):
    done = subprocess.run([sys.executable, "-m", "syneg.archive", "better-s4", "nosuch", "--repo", str(repo)],
                          capture_output=True, text=True, cwd=repo)
    assert done.returncode == 1 and "nosuch: not a git revision" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not (repo / "metrics/scifact/runs").exists()


@pytest.mark.parametrize("specs, seeds, message", [
    (["HEAD"], False, "compare needs at least two systems, got 1"),
    (["HEAD", "better-s4"], True, "--seeds: system 'HEAD' has 1 run; give at least 2 comma-separated runs"),
    (["HEAD", "nosuch"], False, "nosuch: not a git revision, DVC experiment, per-query table (.csv), archived run or run file"),
    (["HEAD", "HEAD:zeroshot"], False, "HEAD:zeroshot: no metrics/scifact/per_query/zeroshot.csv at"),
])
def test_bad_input_is_one_line_and_writes_nothing(repo, specs, seeds, message):
    out = repo / "cmp.json"
    args = [sys.executable, "-m", "syneg.compare", *specs, "--repo", str(repo), "--json", str(out),
            "--resamples", "200"] + (["--seeds"] if seeds else [])
    done = subprocess.run(args, capture_output=True, text=True, cwd=repo)
    assert done.returncode == 1 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1 and message in done.stderr, done.stderr
    assert not out.exists()


def test_runs_over_different_queries_or_judgements_are_refused(repo):
    subprocess.run(["git", "checkout", "-q", "-b", "fewer"], cwd=repo, check=True)
    _commit(repo, {"finetuned": _table(0.0, 8, drop=5)}, "five queries fewer")
    with pytest.raises(compare.CompareError, match=r"scored on different queries \(60 vs 55, e\.g\. '0' in one only\)"):
        compare.compare(_systems(repo, "HEAD~1", "fewer"))
    _commit(repo, {"finetuned": _table(0.0, 8)}, "other qrels", qrels="def")
    with pytest.raises(compare.CompareError, match=r"different qrels_sha256 \(abc vs def\)"):
        compare.compare(_systems(repo, "HEAD~2", "fewer"))


def test_the_command_prints_the_table_and_writes_json_and_markdown(repo):
    done = subprocess.run([sys.executable, "-m", "syneg.compare", "HEAD", "better-s4", "--repo", str(repo),
                           "--json", "c.json", "--md", "c.md", "--metric", "ndcg@10", "--resamples", "500"],
                          capture_output=True, text=True, cwd=repo, check=True)
    assert done.stdout == (repo / "c.md").read_text() and "**ndcg@10**" in done.stdout
    assert json.loads((repo / "c.json").read_text())["metrics"]["ndcg@10"][1]["system"] == "better-s4"
