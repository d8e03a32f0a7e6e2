"""Ask an LLM for validated JSON answers: cache, format fallback, bounded re-asks, counts and cost.

This is the one place that decides what a request is and what its answer means; backends only send. For each
prompt, :class:`Asker` builds the request, looks its key up in the :class:`~syneg.llm.cache.AnswerCache`,
sends only the misses (identical requests once), stores every answer the moment it arrives, validates it
against the answer's pydantic model, and asks again (a bounded number of times) with the invalid answer and
what was wrong with it. When a server refuses the structured-output mode (``json_schema``), every request
falls back to ``json_object`` and then to plain text with JSON extracted from it, and the fallback is
remembered in the store so a rerun does not probe again.

Example:
    >>> from syneg.llm.answers import synthesis_spec
    >>> asker = Asker(make_backend(LLMConfig(backend="openai")), AnswerCache("llm-answers"))  # doctest: +SKIP
    >>> [a.value.hard_negatives for a in asker.ask(["<prompt>"], synthesis_spec(2))]  # doctest: +SKIP
    [['<negative 1>', '<negative 2>']]
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, Sequence

from pydantic import BaseModel

from syneg.errors import UserError
from syneg.llm.answers import AnswerError, AnswerSpec, parse
from syneg.llm.base import FORMATS, ChatBackend, Reply
from syneg.llm.cache import AnswerCache, request_key
from syneg.llm.pricing import Prices

log = logging.getLogger(__name__)

SEED_STRIDE = 1_000_003
REASK = ("That answer is not valid ({problem}). Reply with only the JSON object the [Format Definition] asks "
         "for, and nothing else.")


@dataclass
class Asked:
    """The outcome for one prompt: the validated answer, or why there is none (``"<category>: <detail>"``)."""

    value: BaseModel | None = None
    error: str = ""

    @property
    def category(self) -> str:
        return self.error.split(":")[0]


class TooManyFailures(UserError, RuntimeError):
    """More of a stage's items failed than ``llm.max_failed_share`` allows."""


def check_failed_share(stage: str, items: int, reasons: Sequence[str], max_share: float) -> None:
    """Raise :class:`TooManyFailures`, in one line naming the count, the top reasons and the fix, when more than
    ``max_share`` of ``items`` failed (``reasons``: one ``"<category>: <detail>"`` per failed item).

    Example:
        >>> check_failed_share("synthesize", 100, ["http_500: boom"] * 2, 0.02)   # 2% is allowed
        >>> check_failed_share("synthesize", 100, ["http_500: boom"] * 3, 0.02)
        Traceback (most recent call last):
        ...
        syneg.llm.asking.TooManyFailures: synthesize: 3 of 100 items failed (3.0% > llm.max_failed_share 2.0%); top reasons: http_500 x3 (boom). Fix the cause and run the stage again: stored answers are kept and only the failed items are asked again.
    """
    if not items or len(reasons) <= max_share * items:
        return
    top = Counter(r.split(":")[0] for r in reasons).most_common(3)
    example = {r.split(":")[0]: r.split(":", 1)[1].strip()[:120] for r in reversed(reasons) if ":" in r}
    detail = ", ".join(f"{k} x{n}" + (f" ({example[k]})" if example.get(k) else "") for k, n in top)
    raise TooManyFailures(
        f"{stage}: {len(reasons)} of {items} items failed ({100 * len(reasons) / items:.1f}% > llm.max_failed_share "
        f"{100 * max_share:.1f}%); top reasons: {detail}. Fix the cause and run the stage again: stored answers "
        f"are kept and only the failed items are asked again.")


class Asker:
    """Validated answers from one backend through one answer store."""

    def __init__(self, backend: ChatBackend, cache: AnswerCache, response_format: str = "json_schema",
                 max_reasks: int = 1, prices: Prices | None = None):
        """Args:
            backend: where requests go.
            cache: the answer store (a persistent DVC output).
            response_format: the strongest structured-output mode to try: ``json_schema`` (strict),
                ``json_object`` or ``text``. Weaker modes are used when the backend or server lacks it.
            max_reasks: extra requests after an answer that is not the asked-for JSON.
            prices: the price table; cost is None for a model it lacks (and 0 for a local model).
        """
        if response_format not in FORMATS:
            raise ValueError(f"llm.response_format is '{response_format}'; use one of {', '.join(FORMATS)}.")
        if max_reasks < 0:
            raise ValueError(f"llm.max_reasks is {max_reasks}; use 0 (no re-ask) or more.")
        self.backend, self.cache, self.max_reasks = backend, cache, int(max_reasks)
        self.prices = prices or Prices()
        allowed = [f for f in FORMATS[FORMATS.index(response_format):] if f in backend.formats] or ["text"]
        remembered = cache.note(self._format_note())
        self.fmt = remembered if remembered in allowed else allowed[0]
        # A format this server answered (or stepped down to) before needs no probe; text needs none either.
        self._confirmed = not backend.probes_format or self.fmt == "text" or remembered == self.fmt
        self.counts: Counter[str] = Counter()
        self.cost = {"this_run": 0.0, "all_answers": 0.0}
        self.unpriced = False

    def request(self, messages: list[dict[str, str]], spec: AnswerSpec, fmt: str | None = None,
                seed_offset: int = 0) -> tuple[dict, str]:
        """The body this asker would send for ``messages`` now, and its cache key; ``seed_offset`` adds to the
        sampling seed (another sample of the same prompt, e.g. a pair's second request)."""
        fmt = fmt or self.fmt
        body = self.backend.body(messages, fmt, spec.json_schema if fmt in ("json_schema", "json_object_schema") else None)
        if seed_offset:  # a stride no other seed of a run reaches: request r at seed s is never request 0 at s + r
            body["seed"] = int(body.get("seed") or 0) + SEED_STRIDE * int(seed_offset)
        return body, request_key({**self.backend.identity(), **body})

    def _format_note(self) -> str:
        return "format:" + request_key({**self.backend.identity(), "model": self.backend.model})

    def _fall_back(self) -> bool:
        weaker = [f for f in FORMATS[FORMATS.index(self.fmt) + 1:] if f in self.backend.formats]
        if not weaker:
            return False
        log.warning("the server refused response_format %s; falling back to %s", self.fmt, weaker[0])
        self.fmt = weaker[0]
        self.cache.set_note(self._format_note(), self.fmt)
        self.counts["format_fallbacks"] += 1
        self._confirmed = self.fmt == "text"
        return True

    def _confirm(self) -> None:
        if not self._confirmed:
            self._confirmed = True
            self.cache.set_note(self._format_note(), self.fmt)

    def _account(self, reply: Reply, cached: bool) -> None:
        cost = 0.0 if self.backend.free else self.prices.cost(
            self.backend.model, reply.prompt_tokens, reply.completion_tokens, reply.batch)
        if cost is None:
            self.unpriced, cost = True, 0.0
        self.counts["prompt_tokens_all"] += reply.prompt_tokens
        self.counts["completion_tokens_all"] += reply.completion_tokens
        self.cost["all_answers"] += cost
        if cached:
            self.counts["cache_hits"] += 1
        else:
            self.counts["prompt_tokens"] += reply.prompt_tokens
            self.counts["completion_tokens"] += reply.completion_tokens
            self.counts["batch_requests" if reply.batch else "requests"] += 1
            self.cost["this_run"] += cost

    def ask(self, prompts: Sequence[str], spec: AnswerSpec, desc: str = "",
            seed_offsets: Sequence[int] | None = None) -> list[Asked]:
        """One validated answer (or a recorded failure) per prompt, in order. Never raises for a bad answer.
        ``seed_offsets``: per prompt, added to the sampling seed (so equal prompts get different samples)."""
        offsets = list(seed_offsets) if seed_offsets is not None else [0] * len(prompts)
        convs: list[list[dict[str, str]]] = [[{"role": "user", "content": p}] for p in prompts]
        out = [Asked() for _ in prompts]
        reasks = [0] * len(prompts)
        pending = list(range(len(prompts)))
        while pending:
            fmt = self.fmt
            bodies, keys = {}, {}
            for i in pending:
                bodies[i], keys[i] = self.request(convs[i], spec, fmt, offsets[i])
            replies: dict[int, Reply] = {}
            to_send: dict[str, list[int]] = defaultdict(list)
            hits = []
            for i in pending:
                hit = self.cache.get(keys[i])
                if hit is not None:
                    replies[i] = Reply.from_cache(hit)
                    hits.append(i)
                else:
                    to_send[keys[i]].append(i)
            send_keys = list(to_send)

            def send(keys: list[str]) -> None:
                def on_reply(j: int, reply: Reply) -> None:
                    idx = to_send[keys[j]]
                    if not reply.error and not reply.format_rejected:
                        self.cache.put(keys[j], bodies[idx[0]], reply.to_cache(), model=self.backend.model)
                        self._account(reply, cached=False)
                    elif not reply.format_rejected:
                        self.counts["failed_requests"] += 1
                    for i in idx:
                        replies[i] = reply

                self.backend.complete([bodies[to_send[k][0]] for k in keys], keys, on_reply, desc=desc)

            if send_keys and not self._confirmed:
                # Negotiate the format once per run with one request, not with every item: a server that
                # refuses it would refuse (and the client retry) each of them.
                send(send_keys[:1])
                probe = replies[to_send[send_keys[0]][0]]
                if probe.format_rejected and self._fall_back():
                    continue  # every request again in the weaker format, hits included (their keys change)
                if not probe.error and not probe.format_rejected:
                    self._confirm()
                send_keys = send_keys[1:]
            for i in hits:
                self._account(replies[i], cached=True)
            if send_keys:
                send(send_keys)
            nxt = []
            if any(replies[i].format_rejected for i in pending if i in replies) and self._fall_back():
                nxt = [i for i in pending if i in replies and replies[i].format_rejected]
            for i in pending:
                reply = replies.get(i)
                if reply is None:
                    out[i] = Asked(error="lost: the backend gave no reply for this request")
                elif reply.format_rejected:
                    if i not in nxt:
                        out[i] = Asked(error=f"format_unsupported: {reply.error or 'response_format refused'}")
                elif reply.error:
                    out[i] = Asked(error=reply.error)
                elif reply.refusal:
                    out[i] = Asked(error=f"refused: {reply.refusal[:200]}")
                else:
                    try:
                        out[i] = Asked(parse(reply.content, spec))
                    except AnswerError as exc:
                        kind = "truncated" if reply.finish_reason == "length" else exc.kind
                        problem = f"{exc.detail}; cut at max_tokens" if kind == "truncated" else exc.detail
                        if reasks[i] < self.max_reasks:
                            reasks[i] += 1
                            self.counts["reasks"] += 1
                            convs[i] = convs[i] + [{"role": "assistant", "content": reply.content},
                                                   {"role": "user", "content": REASK.format(problem=problem)}]
                            nxt.append(i)
                        else:
                            out[i] = Asked(error=f"{kind}: {problem}"[:300])
            pending = sorted(nxt)
        for a in out:
            if a.error:
                self.counts["failed:" + a.category] += 1
        return out

    def stats(self) -> dict[str, Any]:
        """Counters for metrics: requests sent this run, cache hits, tokens, cost, failures by reason."""
        c = self.counts
        failures = {k.split(":", 1)[1]: int(v) for k, v in sorted(c.items()) if k.startswith("failed:")}
        out: dict[str, Any] = {
            "model": self.backend.model,
            "response_format": self.fmt,
            "requests": int(c["requests"]),
            "batch_requests": int(c["batch_requests"]),
            "cache_hits": int(c["cache_hits"]),
            "reasks": int(c["reasks"]),
            "failed_requests": int(c["failed_requests"]),
            "format_fallbacks": int(c["format_fallbacks"]),
            "prompt_tokens": int(c["prompt_tokens"]),
            "completion_tokens": int(c["completion_tokens"]),
            "prompt_tokens_all_answers": int(c["prompt_tokens_all"]),
            "completion_tokens_all_answers": int(c["completion_tokens_all"]),
            "cost_usd": None if self.unpriced else round(self.cost["this_run"], 6),
            "cost_usd_all_answers": None if self.unpriced else round(self.cost["all_answers"], 6),
            "failures_by_reason": failures,
        }
        engine = self.backend.stats()
        if engine:
            out["engine"] = engine
        if self.unpriced:
            out["cost_note"] = f"no price for '{self.backend.model}' in llm.openai.prices"
        return out
