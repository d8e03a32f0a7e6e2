"""Rankings as runs: ``{query_id: {doc_id: score}}`` in memory, TREC run files on disk.

The ``retrieve`` stages write one TREC file per system (BM25: :func:`syneg.retrieval.bm25.bm25_run`; the
base and the fine-tuned model: :func:`syneg.retrieval.dense.dense_run`), the format trec_eval, ranx and
Pyserini read; ``baselines`` and ``evaluate`` score those files. Scores are
written at full precision so that a file read back ranks exactly as the search did (ties included).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "run.trec"
    >>> write_trec(path, {"q1": {"d1": 0.5, "d2": 0.25}}, "demo")
    >>> path.read_text().splitlines()[0]
    'q1 Q0 d1 1 0.5 demo'
    >>> read_trec(path)
    {'q1': {'d1': 0.5, 'd2': 0.25}}
"""

from __future__ import annotations

import os

from syneg.data.store import DataError
from syneg.io import atomic_path

Run = dict[str, dict[str, float]]


def write_trec(path: str | os.PathLike, run: Run, tag: str) -> None:
    """Write ``run`` as a TREC run file (``qid Q0 docid rank score tag``), best first, atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for q in sorted(run):
            ranked = sorted(run[q].items(), key=lambda kv: (-kv[1], kv[0]))
            for r, (d, s) in enumerate(ranked, 1):
                fh.write(f"{q} Q0 {d} {r} {s!r} {tag}\n")


def read_trec(path: str | os.PathLike) -> Run:
    """Read a TREC run file.

    Raises:
        DataError: naming the file and line of the first malformed line.
    """
    run: Run = {}
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: no such run file; run its retrieve stage (dvc repro) first.") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                qid, _, doc, _, score = parts[:5]
                run.setdefault(qid, {})[doc] = float(score)
            except ValueError:
                raise DataError(f"{path}:{lineno}: expected 'qid Q0 docid rank score tag', got {line.strip()!r}; "
                                f"write the file with syneg.retrieval.runs.write_trec or trec_eval's format.") from None
    return run
