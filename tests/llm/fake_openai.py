"""A small OpenAI-compatible server on 127.0.0.1, scripted per test, for the real ``openai`` client.

Chat completions: ``script(body, n)`` returns ``(status, json_body, headers)`` for the n-th request (0-based);
a header ``x-sleep`` makes the server wait that many seconds before answering. The Batch API: files
(``POST /v1/files`` multipart, ``GET /v1/files/{id}/content``) and batches (``POST /v1/batches``,
``GET /v1/batches/{id}``); a batch completes on the poll after ``batch_polls`` polls (``None``: never), its
lines answered by the same script.

Run alone (for benchmarks): ``python -m tests.llm.fake_openai --delay 0.1`` prints the base URL.
"""

from __future__ import annotations

import argparse
import email.parser
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

GOOD = json.dumps({"reasoning": "both stay on statins but say nothing of stroke",
                   "hard_negatives": ["Statins lower LDL cholesterol in most adults who take them daily.",
                                      "Muscle pain is the side effect most often reported by patients on statins."]})


def completion(content: str | None, refusal: str | None = None, prompt_tokens: int = 100,
               completion_tokens: int = 50, finish_reason: str = "stop") -> dict:
    return {
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": "fake",
        "choices": [{"index": 0, "finish_reason": finish_reason,
                     "message": {"role": "assistant", "content": content, "refusal": refusal}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    }


def error(status: int, message: str, **headers) -> tuple[int, dict, dict]:
    return status, {"error": {"message": message, "type": "test", "code": None}}, dict(headers)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # the default 5 resets connections when 32+ clients connect at once


class FakeOpenAI:
    """See the module docstring. ``requests`` holds every chat body received, batch lines included."""

    def __init__(self, script: Callable[[dict, int], tuple[int, dict, dict]], batch_polls: int | None = 1):
        self.script = script
        self.batch_polls = batch_polls
        self.requests: list[dict] = []
        self.times: list[float] = []
        self.auth: list[str] = []
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.polls: dict[str, int] = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True  # headers and body go out in two writes; Nagle would stall 40 ms

            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, status: int, payload, headers: dict | None = None, raw: bytes | None = None):
                headers = dict(headers or {})
                if headers.get("x-sleep"):
                    time.sleep(float(headers.pop("x-sleep")))
                data = raw if raw is not None else json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    self.close_connection = True

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.auth.append(self.headers.get("Authorization", ""))
                if self.path.endswith("/chat/completions"):
                    self._send(*outer.chat(json.loads(raw or b"{}")))
                elif self.path.endswith("/files"):
                    self._send(200, outer.upload(self.headers.get("Content-Type", ""), raw))
                elif self.path.endswith("/batches"):
                    self._send(200, outer.create_batch(json.loads(raw)))
                else:
                    self._send(*error(404, f"no route {self.path}"))

            def do_GET(self):
                if self.path.endswith("/_count"):  # for benchmarks that run the server in another process
                    return self._send(200, {"requests": len(outer.requests)})
                m = re.search(r"/batches/([^/]+)$", self.path)
                if m:
                    return self._send(200, outer.poll(m.group(1)))
                m = re.search(r"/files/([^/]+)/content$", self.path)
                if m and m.group(1) in outer.files:
                    return self._send(200, None, raw=outer.files[m.group(1)])
                self._send(*error(404, f"no route {self.path}"))

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def chat(self, body: dict) -> tuple[int, dict, dict]:
        with self.lock:
            n = len(self.requests)
            self.requests.append(body)
            self.times.append(time.monotonic())
        return self.script(body, n)

    def upload(self, content_type: str, raw: bytes) -> dict:
        msg = email.parser.BytesParser().parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
        data = next(p.get_payload(decode=True) for p in msg.get_payload()
                    if p.get_param("name", header="content-disposition") == "file")
        with self.lock:
            fid = f"file-{len(self.files) + 1}"
            self.files[fid] = data
        return {"id": fid, "object": "file", "bytes": len(data), "created_at": 0, "filename": "batch.jsonl",
                "purpose": "batch", "status": "processed"}

    def create_batch(self, req: dict) -> dict:
        with self.lock:
            bid = f"batch_{len(self.batches) + 1}"
            lines = [json.loads(x) for x in self.files[req["input_file_id"]].splitlines() if x.strip()]
            self.batches[bid] = {"id": bid, "object": "batch", "endpoint": req["endpoint"], "errors": None,
                                 "input_file_id": req["input_file_id"], "completion_window": "24h",
                                 "status": "validating", "created_at": 0, "metadata": req.get("metadata"),
                                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                                 "_lines": lines}
            self.polls[bid] = 0
        return self._public(bid)

    def _public(self, bid: str) -> dict:
        return {k: v for k, v in self.batches[bid].items() if not k.startswith("_")}

    def poll(self, bid: str) -> dict:
        b = self.batches[bid]
        self.polls[bid] += 1
        if b["status"] == "completed":
            return self._public(bid)
        if self.batch_polls is None or self.polls[bid] < self.batch_polls:
            b["status"] = "in_progress"
            return self._public(bid)
        ok, bad = [], []
        for line in b["_lines"]:
            status, payload, _ = self.chat(line["body"])
            rec = {"id": f"req-{line['custom_id'][:8]}", "custom_id": line["custom_id"], "error": None,
                   "response": {"status_code": status, "request_id": "r", "body": payload}}
            (ok if status == 200 else bad).append(json.dumps(rec))
        with self.lock:
            for name, rows in (("output_file_id", ok), ("error_file_id", bad)):
                if rows:
                    fid = f"file-{len(self.files) + 1}"
                    self.files[fid] = ("\n".join(rows) + "\n").encode()
                    b[name] = fid
        b["status"] = "completed"
        b["request_counts"] = {"total": len(b["_lines"]), "completed": len(ok), "failed": len(bad)}
        return self._public(bid)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


def main() -> None:
    ap = argparse.ArgumentParser(description="Serve fixed valid answers after a fixed delay.")
    ap.add_argument("--delay", type=float, default=0.1)
    args = ap.parse_args()
    with FakeOpenAI(lambda body, n: (200, completion(GOOD), {"x-sleep": str(args.delay)})) as srv:
        print(srv.base_url, flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
