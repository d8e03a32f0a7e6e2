"""The LLM answer store: a folder of content-addressed answers, small enough to commit to git.

Every answer is kept under the sha256 of the whole request (backend, model checksum or endpoint, messages,
sampling, format), so a rerun with the same requests sends nothing, and a fresh clone that has the folder
replays a run exactly without the model. The folder holds:

- ``journal.jsonl``: one JSON line per new record, appended (under a file lock, so concurrent writer processes
  lose nothing) and flushed the moment an answer arrives, so a stage killed with ``kill -9`` resumes without
  repeating any stored request. A line torn by a kill is cut off at the next open;
- ``pack-<sha>.jsonl.gz``: immutable, gzip-compressed shards of older records, sorted by key, each under
  :data:`MAX_PACK_BYTES`. The journal is folded into new packs when it outgrows :data:`JOURNAL_PACK_BYTES`
  and when the store is closed, so git sees small new files, never a rewritten one.

A record is an answer (``key``, ``model``, ``prompt_chars``, ``messages_sha256``, ``answer``; the request itself
is not stored: it is rebuilt from the prompt templates and params), a note (a structured-output mode a server
refused, remembered for the next run) or a submitted OpenAI batch. No secret is ever stored: keys cover request
bodies and endpoints, never headers.

Example:
    >>> import tempfile, os
    >>> c = AnswerCache(os.path.join(tempfile.mkdtemp(), "answers"))
    >>> req = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    >>> c.put(request_key(req), req, {"content": "hello"}); c.get(request_key(req))
    {'content': 'hello'}
    >>> c.close(); sorted(p.name.split("-")[0] for p in c.path.iterdir())
    ['pack']
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any, Iterator, NamedTuple

from syneg.locking import file_lock

JOURNAL = "journal.jsonl"
MAX_PACK_BYTES = 1_500_000     # compressed; git hosts and reviewers dislike files over 2 MB
JOURNAL_PACK_BYTES = 1_000_000  # fold the journal into packs past this size, even mid-run


class Entry(NamedTuple):
    """One stored answer and what is known of its request."""

    key: str
    model: str
    prompt_chars: int
    messages_sha256: str
    answer: dict[str, Any]


def request_key(request: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a request (backend, endpoint, model, messages, sampling, format)."""
    return hashlib.sha256(_canon(request).encode()).hexdigest()


def _canon(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def messages_sha256(request: dict[str, Any]) -> str:
    """sha256 of a request's messages alone: which conversation an answer belongs to."""
    return hashlib.sha256(_canon(request.get("messages", [])).encode()).hexdigest()


EMPTY_STORE_NOTE = ("This answer store is empty: the stage asked no LLM (the offline stand-in, or nothing to ask).\n"
                    "The file keeps the folder in git, so a fresh clone has the output DVC recorded.\n")


def ensure_store(path: str | os.PathLike) -> Path:
    """Create the answer store ``path``, a DVC output even when nothing was asked. An empty store gets a short
    README: git keeps no empty folder, and a fresh clone would otherwise miss an output that dvc.lock records."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if not any(path.iterdir()):
        (path / "README.md").write_text(EMPTY_STORE_NOTE, encoding="utf-8")
    return path


class AnswerCache:
    """The answer store (see the module docstring). Thread-safe; any number of writer processes.

    Args:
        path: the store's folder (created on the first write, not before: a dry run writes nothing).
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock = threading.Lock()
        self._answers: dict[str, dict[str, Any]] = {}
        self._meta: dict[str, tuple[str, int, str]] = {}  # key -> (model, prompt_chars, messages_sha256)
        self._notes: dict[str, str] = {}
        self._batches: dict[str, dict[str, Any]] = {}
        self._journal_bytes = 0
        self._dirty = False
        if self.path.is_dir():
            with self._flock():
                self._repair_journal()
            self._load()

    # -- reading ------------------------------------------------------------------------------------------
    def _records(self) -> Iterator[dict[str, Any]]:
        for pack in sorted(self.path.glob("pack-*.jsonl.gz")):
            with gzip.open(pack, "rt", encoding="utf-8") as fh:
                for line in fh:
                    yield json.loads(line)
        journal = self.path / JOURNAL
        if journal.is_file():
            data = journal.read_bytes()
            self._journal_bytes = len(data)
            for line in data.decode("utf-8").splitlines():
                if line.strip():
                    yield json.loads(line)

    def _apply(self, rec: dict[str, Any]) -> None:
        kind = rec.get("type", "answer")
        if kind == "answer":
            self._answers[rec["key"]] = rec["answer"]
            self._meta[rec["key"]] = (rec.get("model", ""), int(rec.get("prompt_chars", 0)),
                                      rec.get("messages_sha256", ""))
        elif kind == "note":
            self._notes[rec["key"]] = rec["value"]
        elif kind == "batch":
            self._batches[rec["batch_id"]] = rec
        elif kind == "batch_collected":
            self._batches.pop(rec["batch_id"], None)

    def _load(self) -> None:
        for rec in self._records():
            self._apply(rec)

    # -- writing ------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _flock(self) -> Iterator[None]:
        self.path.mkdir(parents=True, exist_ok=True)
        # Beside the folder, not in it: the folder is a DVC output and its files are committed.
        with file_lock(self.path.with_name(self.path.name + ".lock")):
            yield

    def _repair_journal(self) -> None:
        """Cut a line torn by a kill, so the next append starts on a line of its own."""
        journal = self.path / JOURNAL
        if not journal.is_file():
            return
        data = journal.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(journal, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def _append(self, rec: dict[str, Any]) -> None:
        line = (_canon(rec) + "\n").encode("utf-8")
        with self._lock:
            self._apply(rec)
            with self._flock():
                # One write of a whole line, opened for append: a kill can tear at most this line.
                fd = os.open(self.path / JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)
                self._journal_bytes += len(line)
                self._dirty = True
                if self._journal_bytes > JOURNAL_PACK_BYTES:
                    self._pack_journal()

    def _pack_journal(self) -> None:
        """Fold the journal into new packs (caller holds the file lock)."""
        journal = self.path / JOURNAL
        if not journal.is_file() or journal.stat().st_size == 0:
            return
        self._repair_journal()
        lines = [ln for ln in journal.read_text(encoding="utf-8").splitlines() if ln.strip()]
        if lines:
            write_packs(self.path, lines)
        # Safe under the lock: every writer opens the journal afresh, under the same lock, for each append.
        journal.unlink()
        self._journal_bytes = 0

    def put(self, key: str, request: dict[str, Any], answer: dict[str, Any], model: str | None = None) -> None:
        """Store ``answer`` for the request ``request`` whose key is ``key`` (``model``: who answered)."""
        chars = sum(len(m.get("content") or "") for m in request.get("messages", []))
        self._append({"type": "answer", "key": key, "model": str(model or request.get("model", "")),
                      "prompt_chars": chars, "messages_sha256": messages_sha256(request), "answer": answer})

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            return self._answers.get(key)

    def __contains__(self, key: str) -> bool:
        return key in self._answers

    def entries(self) -> list[Entry]:
        """Every stored answer."""
        with self._lock:
            return [Entry(k, *self._meta[k], a) for k, a in self._answers.items()]

    def note(self, key: str) -> str | None:
        return self._notes.get(key)

    def set_note(self, key: str, value: str) -> None:
        if self._notes.get(key) != value:
            self._append({"type": "note", "key": key, "value": value})

    def add_batch(self, batch_id: str, keys: list[str]) -> None:
        self._append({"type": "batch", "batch_id": batch_id, "keys": keys, "submitted": time.time()})

    def open_batches(self) -> list[tuple[str, list[str]]]:
        """Submitted batches whose results have not been collected yet: ``[(batch_id, keys)]``."""
        with self._lock:
            rows = sorted(self._batches.values(), key=lambda r: r["submitted"])
        return [(r["batch_id"], list(r["keys"])) for r in rows]

    def close_batch(self, batch_id: str) -> None:
        self._append({"type": "batch_collected", "batch_id": batch_id})

    def __len__(self) -> int:
        return len(self._answers)

    def close(self) -> None:
        """Fold what this instance wrote into packs; a store nothing was written to is left as it is."""
        with self._lock:
            if self._dirty:
                with self._flock():
                    self._pack_journal()
                self._dirty = False


def write_packs(folder: Path, lines: list[str]) -> list[Path]:
    """Write ``lines`` (JSON records) as gzip packs under :data:`MAX_PACK_BYTES`, named by their content."""
    lines = sorted(lines, key=lambda ln: (json.loads(ln).get("key") or json.loads(ln).get("batch_id") or "", ln))
    out: list[Path] = []
    chunks = [lines]
    while chunks:
        chunk = chunks.pop(0)
        blob = gzip.compress(("\n".join(chunk) + "\n").encode("utf-8"), compresslevel=9, mtime=0)
        if len(blob) > MAX_PACK_BYTES and len(chunk) > 1:
            half = len(chunk) // 2
            chunks[:0] = [chunk[:half], chunk[half:]]
            continue
        path = folder / f"pack-{hashlib.sha256(blob).hexdigest()[:16]}.jsonl.gz"
        if not path.exists():
            tmp = folder / f".{path.name}.tmp{os.getpid()}"
            tmp.write_bytes(blob)
            os.replace(tmp, path)
        out.append(path)
    return out
