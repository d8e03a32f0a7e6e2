"""syneg.headline: archived runs are not run again, the systems' seeds are pooled into headline.{json,md}, and
too few seeds is a one-line error."""

import json
import subprocess
import sys

from syneg import archive, headline
from tests.test_compare import repo  # noqa: F401  (the fixture: a git repo with seeded DVC-style experiments)


def _run(repo, *args):
    return subprocess.run([sys.executable, "-m", "syneg.headline", "--repo", str(repo), *args], capture_output=True,
                          text=True, cwd=repo)


def test_every_run_archived_means_nothing_runs_and_the_seeds_are_pooled(repo):  # noqa: F811
    runs = repo / "metrics/scifact/runs"
    # stand the fixture's runs in for the headline's: retrieved-only = base, hybrid = better, direct = base
    source = {"retrieved-only": ["HEAD", "base-s2"], "hybrid": ["better-s4", "better-s5"],
              "direct": ["base-s3", "base-s2"]}
    for name, _ in headline.plan((42, 43)):
        system, seed = name[len("headline-"):].rsplit("-s", 1)
        archive.write(runs / name, archive.collect(repo, source[system][int(seed) - 42], "scifact", name))
    done = _run(repo, "--seed", "42", "--seed", "43")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("archived  headline-") == 6 and "running" not in done.stdout
    result = json.loads((repo / "metrics/scifact/headline.json").read_text())
    base, hybrid, direct = result["metrics"]["ndcg@10"]
    assert [r["system"] for r in (base, hybrid, direct)] == ["retrieved-only", "hybrid", "direct"]
    assert base["runs"] == hybrid["runs"] == 2 and hybrid["diff"] > 0 and hybrid["mde"] is not None
    assert "| hybrid | 2 |" in (repo / "metrics/scifact/headline.md").read_text()


def test_one_seed_is_refused_in_one_line(repo):  # noqa: F811
    done = _run(repo, "--seed", "42")
    assert done.returncode == 1 and done.stderr.strip() == ("error: --seed given 1 time(s); give at least 2 "
                                                            "train.seed values")
    assert not (repo / "metrics/scifact/headline.json").exists()


def test_a_dry_run_lists_what_would_run_and_runs_nothing(repo):  # noqa: F811
    done = _run(repo, "--dry-run", "--max-runs", "4")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("would run  headline-") == 4 and done.stdout.count("left     headline-") == 5
    assert not (repo / "metrics/scifact/runs").exists() and not (repo / "metrics/scifact/headline.json").exists()
