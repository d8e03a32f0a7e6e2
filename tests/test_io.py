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


def test_a_temporary_in_the_form_of_earlier_versions_is_removed_by_the_next_write(tmp_path):
    """`.finetuned.k3j_x9q2` (mkdtemp's suffix, no pid): what versions before TMP_MARK left after a kill."""
    (tmp_path / ".finetuned.k3j_x9q2").mkdir()
    (tmp_path / ".finetuned.k3j_x9q2" / "model.safetensors").write_bytes(b"x")
    (tmp_path / ".train.json.ab12cd34").mkdir()  # write_json's temporary was a folder holding the file
    (tmp_path / ".train.json.ab12cd34" / "train.json").write_text("{")
    keep = [tmp_path / ".finetuned.notes", tmp_path / ".finetuned.ABCDEFGH", tmp_path / ".finetuned2.k3j_x9q2",
            tmp_path / ".train.json.original"]  # files, or other names: never ours
    for path in keep:
        path.write_text("not a temporary of ours")
    with atomic_path(tmp_path / "finetuned", is_dir=True) as tmp:
        (tmp / "weights").write_bytes(b"y")
    write_json(tmp_path / "train.json", {"steps": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["finetuned", "train.json", *(p.name for p in keep)])


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


# A stand-in for DVC: it runs the command through the shell and waits. With a subreaper above it (as a container's
# init or systemd --user is), the orphans of a killed DVC are adopted by that ancestor instead of init.
DVC = """
import subprocess, sys
child = subprocess.Popen([sys.argv[1], "-c", sys.argv[2]], stdout=sys.stdout)
print(child.pid, flush=True)
child.wait()
"""
SUBREAPER = """
import ctypes, os, subprocess, sys
ctypes.CDLL("libc.so.6").prctl(36, 1)  # PR_SET_CHILD_SUBREAPER
dvc = subprocess.Popen([sys.executable, "-c", sys.argv[1], *sys.argv[2:]], stdout=subprocess.PIPE, text=True)
dvc.stdout.readline()
print(dvc.pid, flush=True)
while True:  # reap DVC, then the shell and the stage it adopts
    try:
        os.wait()
    except ChildProcessError:
        break
"""


def _launch(shell: str, command: str, env: dict | None = None,
            subreaper: bool = False) -> tuple[subprocess.Popen, int]:
    """Start a stand-in DVC that runs ``command`` (which, as dvc.yaml's do, starts with ``SYNEG_PARENT=$PPID``)
    through ``shell``; the process started and the stand-in DVC's pid, once the shell runs."""
    command = f"SYNEG_PARENT=$PPID {command}"
    args = [*PY, SUBREAPER, DVC, shell, command] if subreaper else [*PY, DVC, shell, command]
    top = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, env=env)
    first = top.stdout.readline()  # subreaper: DVC's pid; else the shell's pid, once it has started
    return top, int(first) if subreaper else top.pid


def _kill_and_wait(top: subprocess.Popen, dvc: int, stage: Path, then=lambda: None, timeout: float = 10) -> bool:
    """``kill -9`` the stand-in DVC, run ``then``, and wait for the stage script ``stage`` to end; whether it
    ended (gone, or a zombie nobody has reaped yet) within ``timeout`` seconds."""
    stage_pid = int(subprocess.run(["pgrep", "-f", str(stage), "-n"], capture_output=True, text=True).stdout)
    os.kill(dvc, signal.SIGKILL)
    if top.pid == dvc:
        top.wait()
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


LAUNCHES = [("sh", False), ("bash", False), ("sh", True)]


@pytest.mark.parametrize("shell, subreaper", LAUNCHES, ids=["sh", "bash", "sh-under-a-subreaper"])
def test_a_stage_dies_with_the_process_that_started_it_and_cleans_its_temporary(tmp_path, shell, subreaper):
    """kill -9 of DVC ends the stage, also through a shell that does not exec the command (dash) and under a
    subreaper, and the stage's SIGTERM handler removes the temporary it was writing."""
    stage = tmp_path / "stage_die_with_parent.py"
    stage.write_text(f"""
import time
from syneg.lifetime import die_with_parent
from syneg.io import atomic_path
die_with_parent(poll=0.1)
with atomic_path({str(tmp_path / 'model')!r}, is_dir=True) as tmp:
    print("training", flush=True)
    time.sleep(60)
""")
    (tmp_path / "out").touch()
    top, dvc = _launch(shell, f"{sys.executable} {stage} >{tmp_path / 'out'}", subreaper=subreaper)
    deadline = time.time() + 30
    while (tmp_path / "out").read_text() != "training\n" and time.time() < deadline:
        time.sleep(0.05)
    assert (tmp_path / "out").read_text() == "training\n"
    assert _kill_and_wait(top, dvc, stage)
    assert not list(tmp_path.glob(f".model{TMP_MARK}*")) and not (tmp_path / "model").exists()
    top.wait(10)


@pytest.mark.parametrize("shell, subreaper", LAUNCHES, ids=["sh", "bash", "sh-under-a-subreaper"])
def test_a_stage_whose_dvc_died_before_it_armed_itself_exits_at_once(tmp_path, shell, subreaper):
    """kill -9 of DVC while the stage is still importing (before setup() arms it): the stage, adopted by init or
    by a subreaper, exits when it arms instead of running to the end; run by hand (no SYNEG_PARENT), the same
    stage runs on."""
    stage = tmp_path / "stage_orphaned.py"
    stage.write_text(f"""
import os, time
while os.path.exists({str(tmp_path / 'importing')!r}):  # the slow imports of a real stage
    time.sleep(0.05)
from syneg.lifetime import die_with_parent
die_with_parent(poll=0.1)
open({str(tmp_path / 'ran')!r}, "w").close()
""")
    env = {k: v for k, v in os.environ.items() if k != "DVC_STAGE"} | {"DVC_STAGE": "train@scifact"}
    (tmp_path / "importing").touch()
    top, dvc = _launch(shell, f"{sys.executable} {stage} 2>{tmp_path / 'err'}", env, subreaper)
    time.sleep(0.3)  # the stage is importing
    assert _kill_and_wait(top, dvc, stage, then=lambda: (tmp_path / "importing").unlink())  # imports done: it arms
    assert not (tmp_path / "ran").exists()
    assert (tmp_path / "err").read_text() == ("error: DVC ended before stage 'train@scifact' started; nothing was "
                                              "written.\n")
    top.wait(10)

    by_hand = {k: v for k, v in env.items() if k != "SYNEG_PARENT"}
    subprocess.run([sys.executable, str(stage)], env=by_hand, check=True, timeout=60)
    assert (tmp_path / "ran").exists()
