"""The OpenAI Batch API as a backend: half the price, answers within a completion window (24 h).

Requests become one JSONL file per batch (``custom_id`` = the request's cache key, so results map back
exactly), uploaded with ``purpose="batch"`` and submitted to ``/v1/chat/completions``. The batch id is saved
in the answer store the moment it exists, so a stage stopped while a batch runs (Ctrl-C, ``kill -9``, a
closed laptop) resumes by polling the same batch on the next run: nothing is submitted twice. Answers are
stored with ``batch = true`` and priced at half (see :mod:`syneg.llm.pricing`). Failed lines and requests a
batch never answered (expired, cancelled) come back as failures with their reason, and are asked again on a
later run.

Example (params.yaml):
    llm:
      backend: openai
      openai: {model: gpt-4o-mini, mode: batch}
    runtime:
      openai: {batch_poll_seconds: 60}
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from syneg.llm.base import Reply
from syneg.llm.cache import AnswerCache, request_key
from syneg.llm.openai_backend import OpenAIBackend, reply_from_completion, require_key

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
DONE = ("completed", "failed", "expired", "cancelled")


class BatchPending(RuntimeError):
    """A batch did not finish within ``batch_max_wait_hours``; its id is saved, so a rerun resumes it."""


class OpenAIBatchBackend(OpenAIBackend):
    """Batch API mode of :class:`~syneg.llm.openai_backend.OpenAIBackend` (same requests, same cache keys).

    Args:
        cache: the answer store that also records submitted batch ids.
        batch_poll_seconds: seconds between status checks.
        batch_max_wait_hours: give up waiting after this (the batch keeps running; rerun to collect it).
        batch_max_requests: requests per batch file (the API allows 50,000).
        **kwargs: as :class:`OpenAIBackend` (``concurrency`` is unused here).
    """

    is_batch = True
    probes_format = False  # one batch holds every request; OpenAI's Batch API takes json_schema

    def __init__(self, cache: AnswerCache, batch_poll_seconds: float = 30.0, batch_max_wait_hours: float = 24.0,
                 batch_max_requests: int = 50_000, **kwargs: Any):
        super().__init__(**kwargs)
        self.cache = cache
        self.poll_seconds, self.max_wait_hours = float(batch_poll_seconds), float(batch_max_wait_hours)
        self.max_requests = int(batch_max_requests)

    def _client(self):
        from openai import OpenAI

        require_key()
        return OpenAI(base_url=self.base_url, timeout=self.timeout, max_retries=self.max_retries)

    def _submit(self, client, lines: list[dict[str, Any]]) -> str:
        keys = [line["custom_id"] for line in lines]
        with tempfile.TemporaryDirectory() as tmp:
            # The upload keeps the file; a local copy would only be a second, stale record of the requests.
            path = Path(tmp) / f"syneg-{request_key({'keys': keys})[:20]}.jsonl"
            path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines),
                            encoding="utf-8")
            with path.open("rb") as fh:
                uploaded = client.files.create(file=fh, purpose="batch")
        batch = client.batches.create(input_file_id=uploaded.id, endpoint=ENDPOINT, completion_window="24h",
                                      metadata={"tool": "syneg"})
        self.cache.add_batch(batch.id, keys)
        log.info("submitted batch %s: %d requests (input file %s)", batch.id, len(keys), uploaded.id)
        return batch.id

    def _collect(self, client, batch, in_batch: set[str], wanted: dict[str, int], on_reply) -> None:
        """Answer every wanted request of ``batch`` (``in_batch``: its custom_ids) from its result files."""
        seen: set[str] = set()
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            for raw in client.files.content(file_id).text.splitlines():
                if not raw.strip():
                    continue
                rec = json.loads(raw)
                key = rec.get("custom_id")
                if key not in wanted or key in seen:
                    continue
                seen.add(key)
                resp = rec.get("response") or {}
                body = resp.get("body") or {}
                if rec.get("error") or resp.get("status_code") != 200:
                    err = rec.get("error") or body.get("error") or {}
                    reply = Reply(error=f"batch_http_{resp.get('status_code', 'none')}: "
                                        f"{err.get('message', err)}"[:300])
                else:
                    reply = reply_from_completion(body, batch=True)
                on_reply(wanted[key], reply)
        errors = "; ".join(e.message or "" for e in (batch.errors.data or [])) if batch.errors else ""
        for key, j in wanted.items():
            if key not in seen and key in in_batch:
                on_reply(j, Reply(error=f"batch_{batch.status}: no result for this request {errors}".strip()[:300]))

    def complete(self, bodies, keys, on_reply, desc=""):
        client = self._client()
        wanted = {k: j for j, k in enumerate(keys)}
        watch: dict[str, set[str]] = {}  # batch id -> its custom_ids, until collected
        for batch_id, bkeys in self.cache.open_batches():
            if wanted.keys() & set(bkeys):
                watch[batch_id] = set(bkeys)
                log.info("resuming batch %s (%d requests) saved in %s", batch_id, len(bkeys), self.cache.path)
        covered = set().union(*watch.values())
        lines = [{"custom_id": k, "method": "POST", "url": ENDPOINT, "body": bodies[j]}
                 for k, j in wanted.items() if k not in covered]
        for start in range(0, len(lines), self.max_requests):
            chunk = lines[start:start + self.max_requests]
            watch[self._submit(client, chunk)] = {line["custom_id"] for line in chunk}
        deadline = time.monotonic() + self.max_wait_hours * 3600
        bar = tqdm(total=len(keys), desc=desc or "llm: openai batch", unit="req")
        try:
            while watch:
                finished = 0
                for batch_id in list(watch):
                    batch = client.batches.retrieve(batch_id)
                    counts = batch.request_counts
                    finished += (counts.completed + counts.failed) if counts else 0
                    if batch.status in DONE:
                        self._collect(client, batch, watch.pop(batch_id), wanted, on_reply)
                        self.cache.close_batch(batch_id)
                bar.n = min(len(keys), finished)
                bar.refresh()
                if watch:
                    if time.monotonic() > deadline:
                        raise BatchPending(
                            f"batch(es) {', '.join(watch)} not finished after {self.max_wait_hours:g} h "
                            f"(runtime.openai.batch_max_wait_hours); their ids are saved in {self.cache.path}. "
                            f"Run the stage again to resume: nothing is submitted twice.")
                    time.sleep(self.poll_seconds)
        finally:
            bar.close()
            client.close()
