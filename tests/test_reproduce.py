import json

import pytest

from syneg.reproduce import CONDITIONS, Condition, ReproductionError, Score, check, load_conditions


def test_the_committed_conditions_load_and_name_their_sources():
    conditions = load_conditions(CONDITIONS)
    names = [c.name for c in conditions]
    assert "bm25-flat" in names and len(set(names)) == len(names)
    assert all(score.tolerance > 0 for c in conditions if not c.seeds for score in c.scores)


def test_a_condition_with_params_runs_as_a_temporary_experiment():
    plain = Condition("default", "", "metrics/scifact/evaluate.json", ())
    assert plain.command == ["dvc", "repro"]
    swept = Condition("retrieved-only", "", "metrics/scifact/evaluate.json", (), {"mix.ratio": 0})
    assert swept.command == ["dvc", "exp", "run", "--temp", "--name", "repro-retrieved-only", "-S", "mix.ratio=0"]


def test_scores_pass_within_tolerance_and_fail_outside_or_when_missing():
    metrics = {"finetuned": {"ndcg@10": 0.6846}}
    assert Score("finetuned.ndcg@10", 0.6850, 0.0005).check(metrics) == (True, 0.6846, -0.0004)
    assert Score("finetuned.ndcg@10", 0.6887, 0.0005).check(metrics) == (False, 0.6846, -0.0041)
    assert Score("finetuned.mrr@10", 0.65, 0.0005).check(metrics) == (False, None, None)


def test_check_prints_one_line_per_score(tmp_path):
    (tmp_path / "metrics" / "scifact").mkdir(parents=True)
    (tmp_path / "metrics" / "scifact" / "baselines.json").write_text(json.dumps({"bm25": {"ndcg@10": 0.67891}}))
    conditions = [Condition("bm25-flat", "", "metrics/scifact/baselines.json",
                            (Score("bm25.ndcg@10", 0.6789, 0.0005), Score("bm25.ndcg@10", 0.70, 0.0005)))]
    lines = []
    assert check(conditions, tmp_path, run=False, echo=lines.append) is False
    assert lines[0].startswith("OK   bm25-flat") and "got 0.6789 (+0.0000)" in lines[0]
    assert lines[1].startswith("FAIL bm25-flat") and "(-0.0211)" in lines[1]


def test_no_run_reads_the_experiment_run_on_head_and_skips_one_that_never_ran(tmp_path):
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    git("commit", "-q", "--allow-empty", "-m", "old")
    old = git("rev-parse", "HEAD")
    (tmp_path / "metrics" / "scifact").mkdir(parents=True)
    (tmp_path / "metrics" / "scifact" / "evaluate.json").write_text(json.dumps({"finetuned": {"ndcg@10": 0.6887}}))
    git("add", "-A")
    git("commit", "-q", "-m", "experiment")
    exp = git("rev-parse", "HEAD")
    git("reset", "-q", "--hard", old)
    git("commit", "-q", "--allow-empty", "-m", "new")
    head = git("rev-parse", "HEAD")
    conditions = [Condition("retrieved-only", "", "metrics/scifact/evaluate.json",
                            (Score("finetuned.ndcg@10", 0.6887, 0.0005),), {"mix.ratio": 0})]
    skip = ("SKIP retrieved-only         sets params and has not run here yet: drop --no-run (with --only "
            "retrieved-only)")
    lines = []
    assert check(conditions, tmp_path, run=False, echo=lines.append) is True and lines == [skip]
    git("update-ref", f"refs/exps/{old[:2]}/{old[2:]}/repro-retrieved-only", exp)  # run on an older commit
    lines = []
    assert check(conditions, tmp_path, run=False, echo=lines.append) is True and lines == [skip]
    git("update-ref", f"refs/exps/{head[:2]}/{head[2:]}/repro-retrieved-only", exp)
    lines = []
    assert check(conditions, tmp_path, run=False, echo=lines.append) is True
    assert lines[0].startswith("OK   retrieved-only") and "got 0.6887 (+0.0000)" in lines[0]


def test_a_malformed_file_names_the_condition_and_the_fix(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("tolerance: 0.001\nconditions:\n  - name: x\n    scores: {a.b: {expected: 1}}\n")
    with pytest.raises(ReproductionError, match=r"r.yaml: condition 1 \(x\): bad or missing field 'metrics_file'"):
        load_conditions(bad)
    (tmp_path / "empty.yaml").write_text("tolerance: 0.001\n")
    with pytest.raises(ReproductionError, match="no conditions"):
        load_conditions(tmp_path / "empty.yaml")


def test_a_seeded_condition_runs_each_seed_and_passes_when_the_expected_value_is_in_its_interval(tmp_path):
    import subprocess

    def git(*args):
        return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@localhost", *args], cwd=tmp_path,
                              check=True, capture_output=True, text=True).stdout.strip()

    hybrid = Condition("hybrid", "", "metrics/scifact/evaluate.json", (Score("finetuned.ndcg@10", 0.6843, 0.0),),
                       seeds=(42, 43, 44))
    ratio0 = Condition("ratio0", "", "metrics/scifact/evaluate.json", (Score("finetuned.ndcg@10", 0.69, 0.0),),
                       {"mix.ratio": 0}, seeds=(42, 43))
    assert [name for name, _ in hybrid.runs(42)] == [None, "repro-hybrid-s43", "repro-hybrid-s44"]
    assert ratio0.runs(42)[1] == ("repro-ratio0-s43", ["dvc", "exp", "run", "--temp", "--name", "repro-ratio0-s43",
                                                        "-S", "mix.ratio=0", "-S", "train.seed=43"])
    (tmp_path / "params.yaml").write_text("train: {seed: 42}\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "base")
    head = git("rev-parse", "HEAD")
    metrics = tmp_path / "metrics" / "scifact" / "evaluate.json"
    for seed, value in ((43, 0.6835), (44, 0.6817)):
        metrics.parent.mkdir(parents=True, exist_ok=True)
        metrics.write_text(json.dumps({"finetuned": {"ndcg@10": value}}))
        git("add", "-A")
        git("commit", "-q", "-m", f"seed {seed}")
        git("update-ref", f"refs/exps/{head[:2]}/{head[2:]}/repro-hybrid-s{seed}", git("rev-parse", "HEAD"))
        git("reset", "-q", "--hard", head)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    metrics.write_text(json.dumps({"finetuned": {"ndcg@10": 0.6877}}))  # the workspace: seed 42
    lines = []
    assert check([hybrid], tmp_path, run=False, echo=lines.append) is True
    assert lines == ["OK   hybrid                 finetuned.ndcg@10      expected 0.6843 in the interval, got 3 seeds "
                     "0.6877/0.6835/0.6817: mean 0.6843, 95% prediction interval [0.6735, 0.6951]"]
    far = Condition("hybrid", "", "metrics/scifact/evaluate.json", (Score("finetuned.ndcg@10", 0.70, 0.0),),
                    seeds=(42, 43, 44))
    lines = []
    assert check([far], tmp_path, run=False, echo=lines.append) is False and lines[0].startswith("FAIL hybrid")
    lines = []
    assert check([ratio0], tmp_path, run=False, echo=lines.append) is True
    assert lines[0].startswith("SKIP ratio0                 runs 2 seeds and has not run here yet")


def test_one_seed_is_not_an_interval(tmp_path):
    bad = tmp_path / "r.yaml"
    bad.write_text("tolerance: 0.001\nconditions:\n  - {name: x, metrics_file: m.json, seeds: [42], "
                   "scores: {a.b: {expected: 1}}}\n")
    with pytest.raises(ReproductionError, match="seeds lists one seed; list at least 2"):
        load_conditions(bad)
