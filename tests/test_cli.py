"""syneg.cli.run: what a user sees when a stage fails (one line, or the traceback with --debug)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from syneg.sandbox import ROOT

STAGE = textwrap.dedent('''
    import typer
    from syneg.cli import run
    from syneg.errors import UserError
    from syneg.io import atomic_path

    app = typer.Typer(add_completion=False)

    @app.command()
    def main(fail: str = "user"):
        if fail == "user":
            raise UserError("data.tsv:3: a bad line. Fix it.")
        if fail == "disk":  # /dev/full answers every write with ENOSPC, as a full disk does
            with atomic_path("out/metrics.json") as tmp, open("/dev/full", "w") as fh:
                fh.write("x" * 10_000)
        if fail == "bug":
            {}["missing"]
        print("done")

    if __name__ == "__main__":
        run(app)
''')


def _stage(tmp_path, *args, env=None):
    script = tmp_path / "stage.py"
    script.write_text(STAGE)
    full = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    full.pop("SYNEG_DEBUG", None)
    full.update(env or {})
    return subprocess.run([sys.executable, str(script), *args], cwd=tmp_path, env=full, capture_output=True,
                          text=True, timeout=120)


def test_a_user_error_is_one_line_and_exit_1(tmp_path):
    res = _stage(tmp_path, "--fail", "user")
    assert res.returncode == 1
    assert res.stderr.strip() == "error: data.tsv:3: a bad line. Fix it."


@pytest.mark.parametrize("how", [("--debug",), ()], ids=["--debug", "SYNEG_DEBUG=1"])
def test_debug_adds_the_traceback_before_the_line(tmp_path, how):
    res = _stage(tmp_path, "--fail", "user", *how, env=None if how else {"SYNEG_DEBUG": "1"})
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert lines[0] == "Traceback (most recent call last):" and "UserError" in res.stderr
    assert lines[-1] == "error: data.tsv:3: a bad line. Fix it."


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_a_full_disk_is_one_line_naming_the_file_and_the_fix(tmp_path):
    res = _stage(tmp_path, "--fail", "disk")
    assert res.returncode == 1
    assert res.stderr.strip() == "error: out/metrics.json: No space left on device; free space on that disk and rerun."
    assert not [p for p in (tmp_path / "out").iterdir()], "a temporary was left"


def test_a_bug_keeps_its_traceback(tmp_path):
    res = _stage(tmp_path, "--fail", "bug")
    assert res.returncode == 1 and "Traceback" in res.stderr and "KeyError: 'missing'" in res.stderr


def test_debug_is_not_passed_to_the_stage_and_success_stays_success(tmp_path):
    res = _stage(tmp_path, "--fail", "none", "--debug")
    assert res.returncode == 0 and res.stdout.strip() == "done", res.stderr
