import pandas as pd

from syneg.sweep import collect, markdown, plot


def _rev(name, strategy, ratio, ndcg, experiments=None, folder="scifact/"):
    return {"rev": f"{name}0000000", "name": name, "error": None, "experiments": experiments,
            "data": {"params": {"params.yaml": {"data": {"mix": {"strategy": strategy, "ratio": ratio}}}},
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
    assert "| exp-b | scifact | hybrid | 0.0 | 68.87 | 65.87 | 94.00 | 155.0 |" in markdown(table)
    sha = {**_rev("x", "direct", 1.0, 0.6), "rev": "e843e75b9bd92aea2f8991f2a34285f01269c1b3", "name": None}
    assert collect([sha])["experiment"].tolist() == ["e843e75"]


def test_plot_is_an_svg_that_equal_sweeps_write_identically(tmp_path):
    table = pd.DataFrame({"mix.strategy": ["hybrid", "hybrid", "direct", "direct"], "mix.ratio": [0, 0.5, 0, 0.5],
                          "ndcg@10": [0.6887, 0.69, 0.6887, 0.68]})
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
