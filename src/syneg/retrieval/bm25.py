"""Lucene BM25 through Pyserini: one index per corpus content, built once and shared by every stage.

The index is built into the cache (``$SYNEG_CACHE_DIR/bm25/<corpus hash>``) rather than as a DVC output:
Lucene writes random segment ids, so its bytes differ between identical builds, while its rankings do not.

Example:
    >>> from syneg.retrieval.bm25 import BM25
    >>> bm25 = BM25.build(["d1", "d2"], ["cats purr", "dogs bark"])  # doctest: +SKIP
    >>> bm25.search(["cats"], ["q1"], k=1)  # doctest: +SKIP
    {'q1': [('d1', 0.69)]}
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Sequence

from syneg import jvm
from syneg.embeddings import cache_dir


def _corpus_key(ids: Sequence[str], texts: Sequence[str]) -> str:
    h = hashlib.sha256()
    for i, t in zip(ids, texts):
        h.update(i.encode())
        h.update(b"\0")
        h.update(t.encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


class BM25:
    """BM25 over one Lucene index (Anserini's default English analyzer: Porter stemming, stopwords).

    Built with ``titles``, the index is Pyserini's BEIR "multifield" one: the title in its own field, searched
    together with the text (``fields``, each with boost 1.0); without, the "flat" one (title and text as one).
    """

    def __init__(self, index_dir: str | os.PathLike, k1: float = 0.9, b: float = 0.4,
                 fields: dict[str, float] | None = None):
        lucene = jvm.lucene()
        self.index_dir = str(index_dir)
        self.searcher = lucene.LuceneSearcher(self.index_dir)
        self.searcher.set_bm25(float(k1), float(b))
        self.fields = dict(fields or {})
        self._reader = None

    @classmethod
    def build(
        cls, ids: Sequence[str], texts: Sequence[str], k1: float = 0.9, b: float = 0.4, threads: int = 2,
        titles: Sequence[str] | None = None,
    ) -> "BM25":
        """Index ``texts`` under ``ids`` (or reuse the cached index of the same content) and open it; with
        ``titles``, a multifield index (title and text in separate fields)."""
        if len(ids) != len(texts) or (titles is not None and len(titles) != len(ids)):
            raise ValueError(f"BM25.build: {len(ids)} ids but {len(texts)} texts"
                             f"{'' if titles is None else f' and {len(titles)} titles'}; pass one of each per id.")
        # "-title-": indexes under the old "-multifield-" key lack the title field (see below); never reuse them
        key = _corpus_key(ids, texts) + ("" if titles is None else f"-title-{_corpus_key(ids, titles)}")
        index_dir = cache_dir() / "bm25" / key
        if not (index_dir / ".complete").is_file():
            index_lib = jvm.lucene_index()
            tmp = Path(f"{index_dir}.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            if titles is None:
                indexer = index_lib.LuceneIndexer(str(tmp), threads=threads)
            else:  # Pyserini's BEIR multifield indexes: `-fields title`, positions, doc vectors, raw
                indexer = index_lib.LuceneIndexer(args=["-index", str(tmp), "-fields", "title", "-storePositions",
                                                        "-storeDocvectors", "-storeRaw"], threads=threads)
            batch = 10_000
            for start in range(0, len(ids), batch):
                part = slice(start, start + batch)
                if titles is None:
                    indexer.add_batch_dict([{"id": i, "contents": t} for i, t in zip(ids[part], texts[part])])
                else:  # add_batch_dict keeps only id and contents (JsonCollection.Document.fromFields) and would
                    # drop the title; raw JSON keeps every key as a field, as Anserini's BeirMultifieldCollection
                    indexer.add_batch_raw([json.dumps({"id": i, "contents": t, "title": h})
                                           for i, t, h in zip(ids[part], texts[part], titles[part])])
            indexer.close()
            (tmp / ".complete").write_text("ok\n")
            shutil.rmtree(index_dir, ignore_errors=True)
            os.replace(tmp, index_dir)
        return cls(index_dir, k1=k1, b=b, fields=None if titles is None else {"contents": 1.0, "title": 1.0})

    def search(
        self, queries: Sequence[str], qids: Sequence[str], k: int, threads: int = 2
    ) -> dict[str, list[tuple[str, float]]]:
        """Top-``k`` ``(doc_id, score)`` per query id, best first."""
        hits = self.searcher.batch_search(list(queries), list(qids), k=int(k), threads=int(threads),
                                          fields=self.fields)
        return {q: [(h.docid, float(h.score)) for h in hits.get(q, [])] for q in qids}

    def score(self, query: str, doc_id: str) -> float:
        """The BM25 score of one document for one query (used for the positive's score), on a flat index."""
        if self.fields:
            raise ValueError("BM25.score reads the contents field only; on a multifield index it would ignore the "
                             "title. Score on a flat index (BM25.build without titles).")
        if self._reader is None:
            self._reader = jvm.lucene_index().LuceneIndexReader(self.index_dir)
        return float(self._reader.compute_query_document_score(doc_id, query))


def bm25_run(ds, query_ids: Sequence[str], k1: float = 0.9, b: float = 0.4, depth: int = 100,
             multifield: bool = False) -> dict[str, dict[str, float]]:
    """Lucene BM25 as a run: over ``title + " " + text`` (Pyserini's BEIR "flat" condition), or with
    ``multifield`` over the title and the text as separate fields (its "multifield" condition)."""
    from syneg.data.store import corpus_texts

    text = dict(zip(ds.queries["query_id"], ds.queries["text"]))
    ids = ds.corpus["doc_id"].tolist()
    if multifield:
        index = BM25.build(ids, ds.corpus["text"].tolist(), k1=k1, b=b, titles=ds.corpus["title"].tolist())
    else:
        index = BM25.build(ids, corpus_texts(ds), k1=k1, b=b)
    return {q: dict(h) for q, h in index.search([text[q] for q in query_ids], list(query_ids), depth).items()}
