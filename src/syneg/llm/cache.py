"""A file-backed store of LLM answers keyed by a hash of the whole request.

A rerun with a warm cache sends nothing, and a stage killed mid-run (even by ``kill -9``) resumes without
repeating any request whose answer was stored: every answer is committed the moment it arrives. SQLite in WAL
mode keeps it safe with concurrent writers. No secret is stored: the key covers the request body and the
endpoint, never headers. The same file remembers two facts a resumed run needs: structured-output modes a
server refused (``notes``) and submitted OpenAI batches (``batches``).

Example:
    >>> import tempfile, os
    >>> c = AnswerCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite"))
    >>> k = request_key({"model": "m", "messages": []})
    >>> c.put(k, {"model": "m"}, {"content": "hi"}); c.get(k)
    {'content': 'hi'}
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any


def request_key(request: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a request (backend, endpoint, model, messages, sampling, format)."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class AnswerCache:
    """The answer store (see the module docstring). Thread-safe; one connection per instance."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode: a commit survives the process being killed (not a power cut), without an fsync
        # per answer.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, request TEXT NOT NULL, answer TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS notes (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS batches (batch_id TEXT PRIMARY KEY, keys TEXT NOT NULL, "
            "submitted REAL NOT NULL, collected INTEGER NOT NULL DEFAULT 0);"
        )
        self._db.commit()

    def _write(self, sql: str, args: tuple) -> None:
        with self._lock:
            self._db.execute(sql, args)
            self._db.commit()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, request: dict[str, Any], answer: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO answers (key, request, answer) VALUES (?, ?, ?)",
                    (key, json.dumps(request, sort_keys=True, ensure_ascii=False), json.dumps(answer, sort_keys=True)))

    def entries(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """Every stored ``(request, answer)`` pair."""
        with self._lock:
            rows = self._db.execute("SELECT request, answer FROM answers").fetchall()
        return [(json.loads(r), json.loads(a)) for r, a in rows]

    def note(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM notes WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_note(self, key: str, value: str) -> None:
        self._write("INSERT OR REPLACE INTO notes (key, value) VALUES (?, ?)", (key, value))

    def add_batch(self, batch_id: str, keys: list[str]) -> None:
        self._write("INSERT OR REPLACE INTO batches (batch_id, keys, submitted, collected) VALUES (?, ?, ?, 0)",
                    (batch_id, json.dumps(keys), time.time()))

    def open_batches(self) -> list[tuple[str, list[str]]]:
        """Submitted batches whose results have not been collected yet: ``[(batch_id, keys)]``."""
        with self._lock:
            rows = self._db.execute("SELECT batch_id, keys FROM batches WHERE collected = 0 ORDER BY submitted")
            return [(b, json.loads(k)) for b, k in rows]

    def close_batch(self, batch_id: str) -> None:
        self._write("UPDATE batches SET collected = 1 WHERE batch_id = ?", (batch_id,))

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            # Fold the WAL back into the main file so the store is one file when DVC hashes it.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
