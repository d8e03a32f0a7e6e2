"""Reflection: check every candidate negative and drop, with a recorded reason, the ones that would hurt.

Checks, cheapest first (the first that fails is the recorded reason; the LLM is asked only about candidates
the cheap checks kept):
    1. ``empty`` / ``too short`` / ``garbled``: not a usable document; ``meta-text`` (with ``drop_meta_text``):
       it writes about the task (``The positive_document discusses ...``) instead of being a document.
    2. ``near-copy``: its word 3-grams overlap the positive's by more than ``max_copy_jaccard``.
    3. ``duplicate``: the same text as an earlier negative of the same instance.
    4. ``likely false negative``: the base model scores it for the query above ``positive - |positive| x
       relative_margin``, the positive-aware rule mining uses (``model_check``).
    5. ``critique``: with an LLM backend and ``critique: true``, the LLM judges whether the candidate reports
       the positive's finding about the query (``answers_query``), is on the query's topic and keeps the
       attributes, and gives a verdict (keep / revise / drop) with its reason. What is applied
       (``critique_decision``): ``judgments`` drops a candidate the LLM judges both on topic and answering the
       query (a false negative must be both), else applies a ``revise`` verdict's revision, else keeps it;
       ``verdict`` follows the verdict, except that a candidate judged to answer the query is never kept
       unrevised. With the model check on, the LLM is asked only about candidates the base model scores at
       least ``critique_min_score_ratio`` of the positive (0.7): below that, a candidate is too far from the
       query to report the positive's finding, and the 1.5B judge's yes-bias would only cost true negatives
       (``metrics/<dataset>/reflect_check.json`` measures both). A revision replaces the text and goes through checks 1, 2 and 4 again. A candidate whose
       critique failed (endpoint down, invalid answers) is dropped as ``critique failed``: unchecked text is
       not trained on, and a rerun asks again for exactly those. The offline stand-in has no LLM, so with it
       this check is skipped and the metrics say so.

Candidates file (the reflect stage's input; synthesize writes one, and any other source can):
    a parquet, JSONL or CSV table with one row per candidate negative and the columns ``query_id``,
    ``pos_id`` (the instance: a query and its positive document) and either ``text`` (the candidate) or
    ``doc_id`` (a corpus document, e.g. the mine stage's ``data/<dataset>/mined/candidates.parquet``). Optional:
    ``domain``, ``difficulty``, ``length`` (the attributes the critique checks), ``neg_index``; any other
    column is carried through.

Example:
    >>> ReflectConfig().relative_margin
    0.05
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from syneg.data.store import DataError, Dataset, doc_texts
from syneg.embeddings import Embeddings, encode
from syneg.llm.critic import Candidate, Critic
from syneg.margins import relative_threshold
from syneg.text_checks import garbled, meta_text, shingle_jaccard

FALSE_NEGATIVE = "likely false negative: scores near or above the positive"
DECISIONS = ("judgments", "verdict")
ATTRIBUTE_COLUMNS = ("domain", "difficulty", "length")  # what the critique checks (not the edit template's change)


@dataclass
class ReflectConfig:
    """The ``reflect`` section of params.yaml.

    Attributes:
        critique: ask the ``llm`` to critique, revise or drop each candidate (skipped with the offline stand-in).
        relative_margin: drop a candidate the base model scores above ``positive - |positive| x this``.
        max_copy_jaccard: drop a candidate whose word 3-grams overlap the positive's more than this.
        min_words: drop shorter candidates.
        model_check: run the base-model check (4 in the module docstring).
        margin_drops: a candidate above the margin is dropped as a likely false negative; False: the score
            only gates the judge, so a candidate is dropped when the judge calls it on topic and answering and
            the base model scores it at least ``critique_min_score_ratio`` of the positive (the margin is still
            recorded, ``margin_flag``). Keeps hard negatives the margin alone would drop (docs/results.md).
        critique_decision: ``judgments`` or ``verdict``: what of the critique is applied (5 in the module
            docstring).
        critique_temperature: sampling temperature of the critique (0: the judge's most likely answer), in
            place of ``llm.temperature``.
        critique_max_tokens: the most tokens of a critique answer, in place of ``llm.max_tokens``.
        critique_min_score_ratio: the critique is asked about, and its drop applied to, only candidates the base
            model scores at least this share of the positive's score (with ``model_check``).
        revise: ask the critique for a revised document with a "revise" verdict; without it, "revise" keeps
            the candidate as it is.
        drop_meta_text: drop a candidate that writes about the task (the query, the positive, hard negatives)
            instead of being a document, with the reason ``meta-text``.
    """

    critique: bool = True
    relative_margin: float = 0.05
    max_copy_jaccard: float = 0.5
    min_words: int = 8
    model_check: bool = True
    margin_drops: bool = True
    critique_decision: str = "judgments"
    critique_temperature: float | None = 0.0
    critique_max_tokens: int | None = 512
    critique_min_score_ratio: float = 0.7
    revise: bool = False
    drop_meta_text: bool = False

    def __post_init__(self) -> None:
        if not self.margin_drops and not self.model_check:
            raise ValueError("reflect.margin_drops is false, which needs the scores of reflect.model_check; set "
                             "reflect.model_check: true (or margin_drops: true).")
        if self.critique_decision not in DECISIONS:
            raise ValueError(f"reflect.critique_decision is '{self.critique_decision}'; use {' or '.join(DECISIONS)}.")


def critic_llm(llm: Any, cfg: ReflectConfig) -> Any:
    """The ``llm`` section as the critique uses it: its own temperature and answer length, when set."""
    changes: dict[str, Any] = {}
    if cfg.critique_temperature is not None:
        changes["temperature"] = float(cfg.critique_temperature)
    if cfg.critique_max_tokens is not None:
        changes["max_tokens"] = int(cfg.critique_max_tokens)
    return dataclasses.replace(llm, **changes) if changes else llm


def read_candidates(path: str | Path, ds: Dataset) -> pd.DataFrame:
    """Read a candidates file (see the module docstring); errors name the file, the problem and the fix."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no candidates file; give a parquet, JSONL or CSV table (see "
                                f"'python stages/reflect.py --help').")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        frame = pd.read_parquet(path)
    elif suffix in (".jsonl", ".json"):
        frame = pd.read_json(path, lines=True, dtype=False)
    elif suffix == ".csv":
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    else:
        raise DataError(f"{path}: unknown format '{suffix}'; use .parquet, .jsonl or .csv.")
    missing = [c for c in ("query_id", "pos_id") if c not in frame.columns]
    if missing or not {"text", "doc_id"} & set(frame.columns):
        need = missing + ([] if {"text", "doc_id"} & set(frame.columns) else ["text (or doc_id)"])
        raise DataError(f"{path}: missing column(s) {', '.join(need)}; a candidates file needs query_id, pos_id "
                         f"and text or doc_id.")
    frame = frame.copy()
    for col in ("query_id", "pos_id") + (("doc_id",) if "doc_id" in frame.columns else ()):
        frame[col] = frame[col].astype(str)
    queries, docs = set(ds.queries["query_id"]), doc_texts(ds)
    for col, known, what in (("query_id", queries, "query"), ("pos_id", docs, "document")):
        bad = frame.loc[~frame[col].isin(known), col]
        if len(bad):
            raise DataError(f"{path}: row {bad.index[0]}: {col} '{bad.iloc[0]}' is no {what} of the prepared "
                             f"dataset; candidates must belong to its queries and documents.")
    if "text" not in frame.columns:
        unknown = frame.loc[~frame["doc_id"].isin(docs), "doc_id"]
        if len(unknown):
            raise DataError(f"{path}: row {unknown.index[0]}: doc_id '{unknown.iloc[0]}' is not in the corpus.")
        frame["text"] = frame["doc_id"].map(docs)
    frame["text"] = frame["text"].fillna("").astype(str)
    for col in ATTRIBUTE_COLUMNS:
        if col not in frame.columns:
            frame[col] = ""
        frame[col] = frame[col].fillna("").astype(str)
    if "neg_index" not in frame.columns:
        frame["neg_index"] = frame.groupby(["query_id", "pos_id"], sort=False).cumcount()
    return frame.reset_index(drop=True)


def _text_problem(text: str, positive: str, cfg: ReflectConfig) -> str:
    why = garbled(text, min_words=cfg.min_words) or (meta_text(text) if cfg.drop_meta_text else "")
    if not why and shingle_jaccard(text, positive) > cfg.max_copy_jaccard:
        why = "near-copy of the positive"
    return why


class _Scorer:
    """The base model's cosine of query and text; queries and corpus from the encode stage's embeddings."""

    def __init__(self, ds: Dataset, neg: pd.DataFrame, model: str, max_seq_length: int, batch_size: int,
                 emb: Embeddings | None = None, precision: str = "fp32", backend: str = "torch"):
        self.model, self.max_seq_length, self.batch_size = model, max_seq_length, batch_size
        self.precision, self.backend = precision, backend
        qids = list(dict.fromkeys(neg["query_id"]))
        emb = emb if emb is not None else Embeddings.compute(ds, model, max_seq_length, batch_size, precision,
                                                             backend=backend)
        self.q_emb, self.d_emb = emb.queries_of(qids), emb.corpus
        self.qrow = {q: i for i, q in enumerate(qids)}
        self.drow = {d: i for i, d in enumerate(ds.corpus["doc_id"])}

    def scores(self, neg: pd.DataFrame, rows: list[int]) -> tuple[np.ndarray, np.ndarray]:
        sub = neg.loc[rows]
        n_emb = encode(self.model, sub["text"].tolist(), self.max_seq_length, self.batch_size,
                       precision=self.precision, backend=self.backend)
        qi = sub["query_id"].map(self.qrow).to_numpy()
        di = sub["pos_id"].map(self.drow).to_numpy()
        return (np.einsum("ij,ij->i", self.q_emb[qi], n_emb), np.einsum("ij,ij->i", self.q_emb[qi], self.d_emb[di]))


def _model_check(neg: pd.DataFrame, rows: list[int], reasons: list[str], scorer: _Scorer, cfg: ReflectConfig) -> None:
    """Score ``rows`` and flag those above the margin (``margin_flag``); record it as their reason if they
    have none yet."""
    if not rows:
        return
    ns, ps = scorer.scores(neg, rows)
    for i, n_score, p_score in zip(rows, ns, ps):
        neg.at[i, "neg_score"], neg.at[i, "pos_score"] = float(n_score), float(p_score)
        flag = bool(n_score > relative_threshold(p_score, cfg.relative_margin))
        neg.at[i, "margin_flag"] = flag
        if flag and not reasons[i] and cfg.margin_drops:
            reasons[i] = FALSE_NEGATIVE


def _below_ratio(neg: pd.DataFrame, i: int, cfg: ReflectConfig) -> bool:
    """The base model scores candidate ``i`` under ``critique_min_score_ratio`` of its positive (False when
    it was not scored): too far from the query for the critique to be asked or its drop applied."""
    score = neg.at[i, "neg_score"]
    return bool(pd.notna(score) and score < cfg.critique_min_score_ratio * neg.at[i, "pos_score"])


def _critique(neg: pd.DataFrame, rows: list[int], reasons: list[str], critic: Critic, ds: Dataset, dtext: dict,
              cfg: ReflectConfig) -> tuple[Counter, list[int]]:
    """Ask ``critic`` about ``rows``; apply keep / revise / drop. Returns the counts and the revised rows."""
    qtext = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    attrs = lambda i: {k: neg.at[i, k] for k in ATTRIBUTE_COLUMNS if neg.at[i, k]}  # noqa: E731
    asked = critic.critique([Candidate(qtext[neg.at[i, "query_id"]], dtext[neg.at[i, "pos_id"]],
                                       neg.at[i, "text"], attrs(i)) for i in rows])
    verdicts: Counter = Counter()
    revised = []
    for i, a in zip(rows, asked):
        if a.error:
            reasons[i] = reasons[i] or f"critique failed: {a.error}"
            neg.at[i, "verdict"], neg.at[i, "critique_reason"] = "failed", a.error
            verdicts["failed"] += 1
            continue
        c = a.value
        if cfg.critique_decision == "judgments":
            false_negative = c.answers_query and c.on_topic
            decision = "drop" if false_negative else "revise" if c.verdict == "revise" else "keep"
        else:
            decision = "drop" if c.answers_query and c.verdict == "keep" else c.verdict
        verdicts[c.verdict] += 1
        verdicts["decision_" + decision] += 1
        verdicts["flag_answers_query"] += c.answers_query
        verdicts["flag_off_topic"] += not c.on_topic
        verdicts["flag_breaks_attributes"] += not c.keeps_attributes
        neg.at[i, "verdict"], neg.at[i, "decision"], neg.at[i, "critique_reason"] = c.verdict, decision, c.reason
        neg.at[i, "answers_query"], neg.at[i, "on_topic"] = bool(c.answers_query), bool(c.on_topic)
        # The critique's drop applies where the margin check is unsure: a candidate the base model scores far
        # below the positive cannot be reporting its finding, and a yes-biased judge would only cost it.
        applied = decision == "drop" and not _below_ratio(neg, i, cfg)
        neg.at[i, "critique_applied"] = applied
        if applied:
            reasons[i] = reasons[i] or f"critique drop: {c.reason}"
        elif decision == "drop":
            verdicts["drop_below_ratio"] += 1
        elif decision == "revise" and c.revised_document.strip() and not reasons[i]:
            neg.at[i, "original_text"], neg.at[i, "text"] = neg.at[i, "text"], c.revised_document.strip()
            why = _text_problem(neg.at[i, "text"], dtext[neg.at[i, "pos_id"]], cfg)
            if why:
                reasons[i] = f"revision unusable: {why}"
            else:
                revised.append(i)
    return verdicts, revised


def reflect(ds: Dataset, negatives: pd.DataFrame, cfg: ReflectConfig, model: str = "",
            max_seq_length: int = 256, batch_size: int = 64, critic: Critic | None = None,
            critique_all: bool = False, emb: Embeddings | None = None,
            precision: str = "fp32", backend: str = "torch") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Split ``negatives`` (a candidates table, see the module docstring) into kept and dropped rows.

    Args:
        critic: the LLM critique (check 5); ``None`` skips it.
        critique_all: critique every candidate, also those a cheaper check already dropped (for measuring
            each check on its own); their recorded reason stays the first check that failed.
        emb: the base model's corpus and query embeddings (the encode stage's output); computed when None.
        precision: ``model.precision`` of the base model's encoding (:func:`syneg.embeddings.encode`).
        backend: ``model.backend`` of that encoding.

    Returns:
        ``(kept, dropped, stats)``; both tables keep the input columns and add ``verdict`` (the LLM's),
        ``decision`` (what was applied), ``critique_reason``, ``answers_query``, ``on_topic``, ``original_text`` (the text before an LLM revision, else
        empty), ``neg_score`` and ``pos_score`` (the base model's cosine for the query) and ``margin_flag``
        (the model check's flag); ``dropped`` adds ``reason``.
    """
    neg = negatives.reset_index(drop=True).copy()
    for col in ATTRIBUTE_COLUMNS:
        if col not in neg.columns:
            neg[col] = ""
    neg["verdict"], neg["decision"], neg["critique_reason"], neg["original_text"] = "", "", "", ""
    neg["answers_query"] = pd.Series([None] * len(neg), dtype="object")
    neg["on_topic"] = pd.Series([None] * len(neg), dtype="object")
    neg["neg_score"], neg["pos_score"] = np.nan, np.nan
    neg["margin_flag"] = pd.Series([None] * len(neg), dtype="object")
    neg["critique_applied"] = False
    dtext = doc_texts(ds)
    reasons = []
    seen: set[tuple[str, str, str]] = set()
    for q, p, text in zip(neg["query_id"], neg["pos_id"], neg["text"]):
        why = _text_problem(text, dtext[p], cfg)
        key = (q, p, " ".join(text.lower().split()))
        if not why and key in seen:
            why = "duplicate of another negative of this instance"
        seen.add(key)
        reasons.append(why)
    scorer = None
    if cfg.model_check and len(neg):
        scorer = _Scorer(ds, neg, model, max_seq_length, batch_size, emb, precision, backend)
    if scorer is not None:
        _model_check(neg, [i for i, r in enumerate(reasons) if not r or critique_all], reasons, scorer, cfg)
    verdicts: Counter = Counter()
    if critic is not None and len(neg):
        def wanted(i: int) -> bool:  # cheap checks first; the LLM only where its drop could apply
            if critique_all:
                return not reasons[i].startswith(("empty", "garbled"))
            return not reasons[i] and not (scorer is not None and _below_ratio(neg, i, cfg))

        ask = [i for i in range(len(neg)) if wanted(i)]
        verdicts, revised = _critique(neg, ask, reasons, critic, ds, dtext, cfg)
        if scorer is not None:
            _model_check(neg, revised, reasons, scorer, cfg)
    neg["reason"] = reasons
    kept = neg[neg["reason"] == ""].drop(columns="reason").reset_index(drop=True)
    dropped = neg[neg["reason"] != ""].reset_index(drop=True)
    counts = Counter(r.split(":")[0] for r in dropped["reason"])
    stats = {
        "synthetic_in": int(len(neg)),
        "kept": int(len(kept)),
        "dropped": int(len(dropped)),
        "acceptance_rate": round(len(kept) / len(neg), 4) if len(neg) else 0.0,
        "dropped_by_reason": {k: int(v) for k, v in sorted(counts.items())},
        "critique": "on" if critic is not None else "off",
    }
    if scorer is not None:
        stats["model_check_flagged"] = int(neg["margin_flag"].eq(True).sum())
    if critic is not None:
        stats["critiqued"] = int(sum(verdicts[k] for k in ("keep", "revise", "drop", "failed")))
        stats["critique_decision"] = cfg.critique_decision
        stats["critique_drops_not_applied_below_ratio"] = int(verdicts["drop_below_ratio"])
        stats["verdicts"] = {k: int(v) for k, v in sorted(verdicts.items()) if k in ("keep", "revise", "drop", "failed")}
        stats["decisions"] = {k[9:]: int(v) for k, v in sorted(verdicts.items()) if k.startswith("decision_")}
        stats["critique_flags"] = {k[5:]: int(v) for k, v in sorted(verdicts.items()) if k.startswith("flag_")}
        stats["revised_kept"] = int((kept["decision"] == "revise").sum())
    return kept, dropped, stats
