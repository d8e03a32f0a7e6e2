"""Atomic writes: nothing half-written, no temporary left by a killed writer, the user's umask kept."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from syneg.io import TMP_MARK, atomic_path, write_json

PY = [sys.executable, "-c"]


def test_a_temporary_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    out = tmp_path / "model"
    writer = subprocess.Popen([*PY, f"""
import time
from syneg.io import atomic_path
with atomic_path({str(out)!r}, is_dir=True) as tmp:
    (tmp / "weights").write_bytes(b"x" * 1000)
    print("writing", flush=True)
    time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline() == "writing\n"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    left = list(tmp_path.glob(f".model{TMP_MARK}*"))
    assert len(left) == 1 and not out.exists()  # kill -9: no cleanup ran, but nothing half-written at `model`
    with atomic_path(out, is_dir=True) as tmp:
        (tmp / "weights").write_bytes(b"y")
    assert (out / "weights").read_bytes() == b"y" and not list(tmp_path.glob(f".model{TMP_MARK}*"))


def test_a_live_writers_temporary_is_left_alone(tmp_path):
    live = tmp_path / f".a.json{TMP_MARK}{os.getpid()}-abc"
    live.mkdir()
    write_json(tmp_path / "a.json", {"x": 1})
    assert live.exists()


@pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755), (0o002, 0o664, 0o775)])
def test_outputs_get_the_users_umask_not_mkdtemps_0700(tmp_path, umask, file_mode, dir_mode):
    code = f"""
import os, sys
os.umask({umask})
from syneg.io import atomic_path, write_json
write_json(sys.argv[1] + "/m.json", {{"a": 1}})
with atomic_path(sys.argv[1] + "/model", is_dir=True) as tmp:
    (tmp / "sub").mkdir()
    (tmp / "sub" / "w.bin").write_bytes(b"1")
"""
    subprocess.run([*PY, code, str(tmp_path)], check=True)
    mode = lambda p: p.stat().st_mode & 0o777  # noqa: E731
    assert mode(tmp_path / "m.json") == file_mode
    assert mode(tmp_path / "model") == dir_mode and mode(tmp_path / "model" / "sub") == dir_mode
    assert mode(tmp_path / "model" / "sub" / "w.bin") == file_mode


def _launch(shell: str, command: str, env: dict | None = None) -> subprocess.Popen:
    """A stand-in for DVC: a process that runs ``command`` through ``shell`` (stdout passed through)."""
    parent = subprocess.Popen([*PY, f"""
import subprocess, sys
child = subprocess.Popen([{shell!r}, "-c", sys.argv[1]], stdout=sys.stdout)
print(child.pid, flush=True)
child.wait()
""", command], stdout=subprocess.PIPE, text=True, env=env)
    parent.stdout.readline()  # the shell's pid: it has started
    return parent


def _kill_and_wait(parent: subprocess.Popen, stage: Path, then=lambda: None, timeout: float = 10) -> bool:
    """``kill -9`` the stand-in DVC, run ``then``, and wait for the stage script ``stage`` to end; whether it
    ended (gone, or a zombie nobody has reaped yet) within ``timeout`` seconds."""
    stage_pid = int(subprocess.run(["pgrep", "-f", str(stage), "-n"], capture_output=True, text=True).stdout)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    then()

    def ended() -> bool:
        try:
            return open(f"/proc/{stage_pid}/stat").read().split()[2] == "Z"
        except FileNotFoundError:
            return True

    deadline = time.time() + timeout
    while not ended() and time.time() < deadline:
        time.sleep(0.1)
    return ended()


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_a_stage_dies_with_the_process_that_started_it_and_cleans_its_temporary(tmp_path, shell):
    """kill -9 of the parent (DVC) ends the stage, also through a shell that does not exec the command (dash),
    and the stage's SIGTERM handler removes the temporary it was writing."""
    stage = tmp_path / "stage_die_with_parent.py"
    stage.write_text(f"""
import time
from syneg.cli import die_with_parent
from syneg.io import atomic_path
die_with_parent(poll=0.1)
with atomic_path({str(tmp_path / 'model')!r}, is_dir=True) as tmp:
    print("training", flush=True)
    time.sleep(60)
""")
    parent = _launch(shell, f"{sys.executable} {stage}")
    assert parent.stdout.readline() == "training\n"
    assert _kill_and_wait(parent, stage)
    assert not list(tmp_path.glob(f".model{TMP_MARK}*")) and not (tmp_path / "model").exists()


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_a_stage_whose_dvc_died_before_it_armed_itself_exits_at_once(tmp_path, shell):
    """kill -9 of DVC while the stage is still importing (before setup() arms it): the stage, adopted by init,
    exits when it arms instead of running to the end; run by hand (no DVC_STAGE), the same stage runs on."""
    stage = tmp_path / "stage_orphaned.py"
    stage.write_text(f"""
import os, time
while os.path.exists({str(tmp_path / 'importing')!r}):  # the slow imports of a real stage
    time.sleep(0.05)
from syneg.cli import die_with_parent
die_with_parent(poll=0.1)
open({str(tmp_path / 'ran')!r}, "w").close()
""")
    for dvc_stage, runs in (("train@scifact", False), (None, True)):
        (tmp_path / "importing").touch()
        env = {k: v for k, v in os.environ.items() if k != "DVC_STAGE"} | ({"DVC_STAGE": dvc_stage} if dvc_stage else {})
        parent = _launch(shell, f"{sys.executable} {stage} 2>{tmp_path / 'err'}", env)
        time.sleep(0.3)  # the stage is importing
        _kill_and_wait(parent, stage, then=lambda: (tmp_path / "importing").unlink())  # imports done: it arms
        assert (tmp_path / "ran").exists() == runs
        if not runs:
            assert (tmp_path / "err").read_text() == ("error: DVC ended before stage 'train@scifact' started; nothing "
                                                      "was written.\n")
        (tmp_path / "ran").unlink(missing_ok=True)
