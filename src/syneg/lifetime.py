"""A process that ends with the one that started it, even when that one is killed with ``kill -9`` (Linux).

Two mechanisms, one module: :func:`set_pdeathsig` asks the kernel for SIGTERM when the direct parent dies
(``PR_SET_PDEATHSIG``; the llama-server child uses it alone), and :func:`die_with_parent` adds, for a stage,
a watch on the process named by ``$SYNEG_PARENT``. Every stage command in dvc.yaml starts with
``SYNEG_PARENT=$PPID``, which the shell DVC runs the command through expands to DVC's own pid: the stage
watches DVC itself, not whichever process it was re-parented to (init, or an ancestor that made itself a
subreaper, such as a container's init or ``systemd --user``), so a shell that stays between them (dash does
not exec the command) and a subreaper hide nothing.

Example:
    >>> _alive(os.getpid())
    True
    >>> _alive(0)
    False
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

PARENT_ENV = "SYNEG_PARENT"


def set_pdeathsig(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies; False where that is not possible
    (not Linux). Safe in a ``preexec_fn``: it only calls prctl."""
    try:
        import ctypes

        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig) == 0  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False


def _start_time(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot, /proc/<pid>/stat field 22); None when it does not run."""
    if pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return None if fields[0] in ("Z", "X") else int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int, started_by: int | None = None) -> bool:
    """True while ``pid`` runs (not a zombie); with ``started_by``, only if it started no later than that
    time, so a reused pid is not mistaken for the watched process."""
    start = _start_time(pid)
    return start is not None and (started_by is None or start <= started_by)


def watched_parent() -> int | None:
    """The pid in ``$SYNEG_PARENT`` (DVC's, from the stage command), or None when unset or not a pid."""
    try:
        pid = int(os.environ.get(PARENT_ENV, ""))
    except ValueError:
        return None
    return pid if pid > 1 else None


def die_with_parent(poll: float = 1.0) -> None:
    """End this stage when DVC ends, even by ``kill -9`` (Linux; elsewhere a no-op).

    SIGTERM from the kernel when the direct parent dies (:func:`set_pdeathsig`), and a watchdog thread that
    polls the process in ``$SYNEG_PARENT`` and sends SIGTERM to this one when it is gone. SIGTERM raises
    ``SystemExit``, so ``finally`` blocks run and temporary outputs are removed. A stage whose watched parent
    had already ended when it armed itself (DVC killed while the stage was still importing) exits at once
    with one line. Without ``$SYNEG_PARENT`` (a stage run by hand) only the kernel's signal is armed."""
    if not set_pdeathsig():
        return
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    parent = watched_parent()
    if parent is None:
        return
    me = _start_time(os.getpid())
    if not _alive(parent, me):  # checked after arming: the parent cannot slip between the two
        who = f"DVC ended before stage '{os.environ['DVC_STAGE']}' started" if "DVC_STAGE" in os.environ else \
            f"the process that started this stage ({PARENT_ENV}={parent}) ended before it started"
        print(f"error: {who}; nothing was written.", file=sys.stderr)
        sys.exit(128 + signal.SIGTERM)

    def watch() -> None:
        while _alive(parent, me):
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="syneg-die-with-parent", daemon=True).start()
