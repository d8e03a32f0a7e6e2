import pandas as pd
import pytest

from syneg.sweep import aggregate, collect, markdown, plot


def _rev(name, strategy, ratio, ndcg, experiments=None, folder="scifact/", seed=42):
    return {"rev": f"{name}0000000", "name": name, "error": None, "experiments": experiments,
            "data": {"params": {"params.yaml": {"data": {"mix": {"strategy": strategy, "ratio": ratio, "seed": 42},
                                                         "train": {"seed": seed}}}},
                     "metrics": {f"metrics/{folder}evaluate.json": {"data": {"finetuned": {
                         "ndcg@10": ndcg, "mrr@10": ndcg - 0.03, "recall@100": 0.94}}},
                                 f"metrics/{folder}train.json": {"data": {"grad_norm_variance": 155.0}}}}}


def test_collect_walks_dvc_exp_shows_nesting_and_keeps_one_row_per_setting():
    workspace = {**_rev("workspace", "hybrid", 0.333333, 0.6846), "rev": "workspace", "name": None}  # as dvc writes it
    show = [
        workspace,
        _rev("main", "hybrid", 0.333333, 0.6846, experiments=[
            {"revs": [_rev("exp-a", "direct", 0.5, 0.6801)], "name": "exp-a", "executor": None},
            {"revs": [_rev("exp-b", "hybrid", 0.0, 0.6887)], "name": "exp-b", "executor": None},
            {"revs": [{"rev": "x", "name": "failed", "data": {"params": {}, "metrics": {}}}], "name": "failed"},
            # queued, running or failed in DVC's queue: dvc shows the parent's metrics for them
            *({"revs": [_rev(f"q-{state}", "direct", 1.0, 0.6846)], "name": f"q-{state}",
               "executor": {"state": state}} for state in ("queued", "running", "failed")),
            {"revs": [_rev("q-done", "direct", 0.25, 0.6890)], "name": "q-done", "executor": {"state": "success"}},
        ]),
    ]
    table = collect(show)
    assert table[["mix.strategy", "mix.ratio"]].values.tolist() == [["direct", 0.25], ["direct", 0.5],
                                                                     ["hybrid", 0.0], ["hybrid", 0.333333]]
    assert table["experiment"].tolist() == ["q-done", "exp-a", "exp-b", "workspace"]
    assert table["grad_norm_variance"].tolist() == [155.0] * 4
    assert "| scifact | hybrid | 0 | 1 | 68.87 | 65.87 | 94.00 | 155.000 |" in markdown(aggregate(table))
    sha = {**_rev("x", "direct", 1.0, 0.6), "rev": "e843e75b9bd92aea2f8991f2a34285f01269c1b3", "name": None}
    assert collect([sha])["experiment"].tolist() == ["e843e75"]


def test_seeds_are_a_dimension_each_point_gets_mean_and_sd_over_them():
    show = [_rev("workspace", "hybrid", 0.333333, 0.6877, experiments=[
        {"revs": [_rev(f"h-s{seed}", "hybrid", 0.333333, v, seed=seed)], "name": f"h-s{seed}", "executor": None}
        for seed, v in ((43, 0.6835), (44, 0.6817))] + [
        {"revs": [_rev(f"r-s{seed}", "hybrid", 0.0, v, seed=seed)], "name": f"r-s{seed}", "executor": None}
        for seed, v in ((42, 0.6887), (43, 0.6860))])]
    runs = collect(show)
    assert runs[["mix.ratio", "train.seed"]].values.tolist() == [[0.0, 42], [0.0, 43], [0.333333, 42],
                                                                  [0.333333, 43], [0.333333, 44]]
    points = aggregate(runs)
    assert points["seeds"].tolist() == [2, 3]
    assert points.loc[1, "ndcg@10"] == pytest.approx((0.6877 + 0.6835 + 0.6817) / 3)
    assert points.loc[1, "ndcg@10_sd"] == pytest.approx(pd.Series([0.6877, 0.6835, 0.6817]).std())
    assert points.loc[1, "experiments"] == "workspace,h-s43,h-s44"
    assert "| scifact | hybrid | 0.333333 | 3 | 68.43 ± 0.31 |" in markdown(points)


def test_plot_is_an_svg_that_equal_sweeps_write_identically(tmp_path):
    table = pd.DataFrame({"mix.strategy": ["hybrid", "hybrid", "direct", "direct"], "mix.ratio": [0, 0.5, 0, 0.5],
                          "ndcg@10": [0.6887, 0.69, 0.6887, 0.68], "ndcg@10_sd": [0.003, None, 0.002, 0.001]})
    plot(table, tmp_path / "a.svg")
    plot(table, tmp_path / "b.svg")
    assert (tmp_path / "a.svg").read_text().startswith("<?xml")
    assert (tmp_path / "a.svg").read_bytes() == (tmp_path / "b.svg").read_bytes()


def test_collect_reads_each_datasets_metrics_and_the_single_dataset_layout_of_older_commits():
    old = _rev("old", "direct", 0.5, 0.6857, folder="")  # metrics/evaluate.json, data.dataset in params
    old["data"]["params"]["params.yaml"]["data"]["data"] = {"dataset": "scifact"}
    new = _rev("new", "hybrid", 0.5, 0.69)
    new["data"]["metrics"]["metrics/fiqa/evaluate.json"] = {"data": {"finetuned": {"ndcg@10": 0.3}}}
    table = collect([old, new])
    assert table[["dataset", "mix.strategy", "ndcg@10"]].values.tolist() == [
        ["fiqa", "hybrid", 0.3], ["scifact", "direct", 0.6857], ["scifact", "hybrid", 0.69]]
    assert table["grad_norm_variance"].isna().tolist() == [True, False, False]


def test_each_point_is_compared_with_the_baseline_and_a_run_without_tables_is_named(tmp_path):
    import subprocess

    from syneg.sweep import significance
    from tests.test_compare import _commit, _table

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    for key, value in (("user.email", "t@t"), ("user.name", "t")):
        subprocess.run(["git", "config", key, value], cwd=tmp_path, check=True)
    revs = {name: _commit(tmp_path, {"finetuned": _table(shift, seed)}, name)
            for name, shift, seed in (("r42", 0.0, 1), ("r43", 0.0, 2), ("h42", 0.04, 3), ("h43", 0.04, 4),
                                      ("d42", 0.0, 5))}
    (tmp_path / "metrics" / "scifact" / "per_query" / "finetuned.csv").unlink()
    old = _commit(tmp_path, {}, "before per-query tables")
    points = pd.DataFrame([
        {"dataset": "scifact", "mix.strategy": "hybrid", "mix.ratio": 0.0, "revs": f"{revs['r42']},{revs['r43']}"},
        {"dataset": "scifact", "mix.strategy": "hybrid", "mix.ratio": 0.5, "revs": f"{revs['h42']},{revs['h43']}"},
        {"dataset": "scifact", "mix.strategy": "direct", "mix.ratio": 0.5, "revs": revs["d42"]},
        {"dataset": "scifact", "mix.strategy": "direct", "mix.ratio": 1.0, "revs": old}])
    out = significance(points, ("hybrid", 0.0), tmp_path, resamples=500)
    assert out.loc[1, "diff"] > 0.02 and out.loc[1, "p"] < 0.01 and out.loc[1, "mde_with_seeds"] is True
    assert out.loc[2, "mde_with_seeds"] is False  # one run: the queries' MDE only
    assert out.loc[3, "diff"] is None and out.loc[3, "note"].startswith("not compared: ")
    assert "(queries)" in markdown(out.assign(seeds=[2, 2, 1, 1], **{"ndcg@10": 0.6}), ("hybrid", 0.0))
