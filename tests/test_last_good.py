"""A failed rerun leaves the last good outputs in place: DVC deletes them before the run, the stage puts them
back when they are exactly what dvc.lock records."""

import hashlib
import subprocess
import sys

import yaml

from syneg import io

STAGE = """
import sys, typer
from syneg.cli import run
from syneg.io import write_json
app = typer.Typer()
@app.command()
def main(metrics: str, fail: bool = False):
    if fail:
        raise SystemExit(2)
    write_json(metrics, {"ndcg": 0.7})
run(app)
"""


def test_a_failed_rerun_puts_back_the_metrics_dvc_deleted(tmp_path, monkeypatch):
    env = {"SYNEG_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}
    script = tmp_path / "stage.py"
    script.write_text(STAGE)
    run = lambda *a: subprocess.run([sys.executable, str(script), *a], cwd=tmp_path, env=env)  # noqa: E731
    assert run("metrics/m.json").returncode == 0
    good = (tmp_path / "metrics/m.json").read_bytes()
    lock = {"schema": "2.0", "stages": {"s": {"cmd": "x", "outs": [
        {"path": "metrics/m.json", "hash": "md5", "md5": hashlib.md5(good).hexdigest(), "size": len(good)},
        {"path": "metrics/other.json", "hash": "md5", "md5": hashlib.md5(b"{}").hexdigest(), "size": 2}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    (tmp_path / "metrics/m.json").unlink()  # what DVC does before rerunning the stage
    assert run("metrics/m.json", "--fail").returncode == 2
    assert (tmp_path / "metrics/m.json").read_bytes() == good
    assert not (tmp_path / "metrics/other.json").exists()  # not this stage's output: left alone


def test_only_the_bytes_dvc_lock_records_are_put_back(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(io, "WRITTEN", [])
    io.write_json("m.json", {"run": 2})  # a newer good run, kept
    assert io.keep_last_good() == 1
    (tmp_path / "m.json").unlink()
    older = b'{"run": 1}'
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump({"stages": {"s": {"outs": [
        {"path": "m.json", "md5": hashlib.md5(older).hexdigest()}]}}}))
    assert io.restore_last_good(["m.json"]) == [] and not (tmp_path / "m.json").exists()
