"""A file-backed store of LLM answers keyed by a hash of the whole request.

A rerun with a warm cache sends nothing, and a stage killed mid-run resumes without repeating any request
whose answer was stored: every answer is committed as soon as it arrives. SQLite in WAL mode keeps it safe
with concurrent writers. No secret is stored: the key covers the request body, never headers.

Example:
    >>> import tempfile, os
    >>> c = AnswerCache(os.path.join(tempfile.mkdtemp(), "llm.sqlite"))
    >>> k = request_key({"model": "m", "messages": []})
    >>> c.put(k, {"model": "m"}, {"text": "hi"}); c.get(k)
    {'text': 'hi'}
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any


def request_key(request: dict[str, Any]) -> str:
    """sha256 of the canonical JSON of a request (backend, model, messages, sampling params, format)."""
    return hashlib.sha256(json.dumps(request, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class AnswerCache:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, request TEXT NOT NULL, "
            "answer TEXT NOT NULL)"
        )
        self._db.commit()

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute("SELECT answer FROM answers WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, request: dict[str, Any], answer: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, request, answer) VALUES (?, ?, ?)",
                (key, json.dumps(request, sort_keys=True), json.dumps(answer, sort_keys=True)),
            )
            self._db.commit()

    def __len__(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            # Fold the WAL back into the main file so the store is one file when DVC hashes it.
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
