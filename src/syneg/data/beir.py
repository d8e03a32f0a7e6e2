"""Load and validate a BEIR-format dataset folder, or download one from BEIR's public URL.

A BEIR folder holds ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``. Loading checks every line
and reports the first problem with the file, the line and the fix, since a bad line found three stages later
costs an hour of CPU.

Example:
    >>> from syneg.data.beir import load_folder
    >>> ds = load_folder("../shared/data/beir/scifact")  # doctest: +SKIP
    >>> ds.splits()  # doctest: +SKIP
    ['test', 'train']
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path

import pandas as pd

from syneg.data.store import DataError, Dataset

BEIR_URL = "https://public.ukp.informatik.tu-darmstadt.de/thakur/BEIR/datasets/{dataset}.zip"
ENV_DIR = "SYNEG_BEIR_DIR"

__all__ = ["BEIR_URL", "ENV_DIR", "DataError", "Dataset", "download", "file_manifest", "load_folder", "locate",
           "write_folder"]


def _lines(path: Path):
    """``(line number, text)`` of each line of ``path`` decoded as UTF-8 (a leading byte-order mark is read and
    dropped); a byte that is not UTF-8 raises with the line, the column and the fix."""
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, 1):
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise DataError(f"{path}:{lineno}: byte 0x{raw[exc.start]:02x} at column {exc.start + 1} is not "
                                f"UTF-8. Re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8).") from None


def _read_jsonl(path: Path, kind: str, text_required: bool) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: not found. A BEIR folder needs corpus.jsonl, queries.jsonl and qrels/<split>.tsv.")
    ids: list[str] = []
    titles: list[str] = []
    texts: list[str] = []
    seen: dict[str, int] = {}
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg}). Each line must be one JSON object.") from None
        if not isinstance(obj, dict):
            raise DataError(f"{path}:{lineno}: a JSON {type(obj).__name__}, expected an object with '_id'.")
        if "_id" not in obj or obj["_id"] in (None, ""):
            raise DataError(f"{path}:{lineno}: no '_id'. Give every {kind} a unique, non-empty '_id'.")
        key = str(obj["_id"])
        if key in seen:
            raise DataError(f"{path}:{lineno}: {kind} id '{key}' repeats line {seen[key]}. Ids must be unique.")
        seen[key] = lineno
        text = obj.get("text")
        title = obj.get("title") or ""
        if text is None:
            text = ""
        if not isinstance(text, str) or not isinstance(title, str):
            raise DataError(f"{path}:{lineno}: {kind} '{key}' has a non-string 'text' or 'title'.")
        if text_required and not text.strip():
            raise DataError(f"{path}:{lineno}: {kind} '{key}' has empty 'text'. Remove it or give it text.")
        ids.append(key)
        titles.append(title)
        texts.append(text)
    if not ids:
        raise DataError(f"{path}: holds no {kind}s.")
    if kind == "query":
        return pd.DataFrame({"query_id": ids, "text": texts})
    return pd.DataFrame({"doc_id": ids, "title": titles, "text": texts})


def _read_qrels(path: Path, split: str) -> pd.DataFrame:
    rows: list[tuple[str, str, str, int]] = []
    seen: dict[tuple[str, str], int] = {}
    for lineno, raw in _lines(path):
        line = raw.rstrip("\r\n")  # BEIR's files end lines in CRLF
        if not line.strip():
            continue
        cols = line.split("\t")
        if lineno == 1 and cols[0] == "query-id":  # BEIR writes a header; a file without one is read too
            continue
        if len(cols) != 3:
            raise DataError(f"{path}:{lineno}: {len(cols)} tab-separated columns, expected 3 "
                            f"(query-id, corpus-id, score).")
        q, d, s = (c.strip() for c in cols)
        try:
            score = int(s)
        except ValueError:
            raise DataError(f"{path}:{lineno}: score '{s}' is not an integer. Use graded integers (0 = not "
                            f"relevant).") from None
        if (q, d) in seen:
            raise DataError(f"{path}:{lineno}: pair ({q}, {d}) repeats line {seen[(q, d)]}. Keep one judgement.")
        seen[(q, d)] = lineno
        rows.append((split, q, d, score))
    return pd.DataFrame(rows, columns=["split", "query_id", "doc_id", "score"])


def load_folder(folder: str | os.PathLike) -> Dataset:
    """Load and validate the BEIR folder ``folder``.

    Raises:
        DataError: on the first malformed line, unknown id, or repeated judgement, naming file, line and fix.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"{folder}: no such folder. Point {ENV_DIR} at the folder that holds <dataset>/, "
                        f"or unset it to download.")
    corpus = _read_jsonl(folder / "corpus.jsonl", "document", text_required=False)
    queries = _read_jsonl(folder / "queries.jsonl", "query", text_required=True)
    empty = corpus[(corpus["title"].str.strip() == "") & (corpus["text"].str.strip() == "")]
    if len(empty):
        raise DataError(f"{folder / 'corpus.jsonl'}: document '{empty['doc_id'].iloc[0]}' has neither title nor "
                        f"text ({len(empty)} such). Remove them or give them text.")
    qrel_files = sorted((folder / "qrels").glob("*.tsv"))
    if not qrel_files:
        raise DataError(f"{folder / 'qrels'}: no <split>.tsv files. Add at least qrels/test.tsv.")
    frames = [_read_qrels(p, p.stem) for p in qrel_files]
    qrels = pd.concat(frames, ignore_index=True)
    doc_ids, query_ids = set(corpus["doc_id"]), set(queries["query_id"])
    for p, frame in zip(qrel_files, frames):
        bad_q = frame[~frame["query_id"].isin(query_ids)]
        if len(bad_q):
            raise DataError(f"{p}: query id '{bad_q['query_id'].iloc[0]}' is not in queries.jsonl "
                            f"({len(bad_q)} such lines). Add the query or drop its judgements.")
        bad_d = frame[~frame["doc_id"].isin(doc_ids)]
        if len(bad_d):
            raise DataError(f"{p}: corpus id '{bad_d['doc_id'].iloc[0]}' is not in corpus.jsonl "
                            f"({len(bad_d)} such lines). Add the document or drop its judgements.")
    for p, frame in zip(qrel_files, frames):
        if frame.empty:
            raise DataError(f"{p}: no judgements, so split '{p.stem}' has no queries. Add lines "
                            f"(query-id, corpus-id, score) or remove the file.")
        best = frame.groupby("query_id", sort=False)["score"].max()
        unjudged = best[best < 1]
        if len(unjudged):
            raise DataError(f"{p}: query '{unjudged.index[0]}' has no positive (every score < 1; {len(unjudged)} "
                            f"such). Judge one document relevant (score >= 1) or drop the query's lines.")
    split_of = qrels.drop_duplicates(["query_id", "split"]).groupby("query_id")["split"].agg(list)
    shared = split_of[split_of.map(len) > 1]
    if len(shared):
        raise DataError(f"{folder / 'qrels'}: query '{shared.index[0]}' is judged in splits "
                        f"{', '.join(shared.iloc[0])} ({len(shared)} such). A query may be in one split only, "
                        f"or training would see test queries.")
    return Dataset(corpus=corpus, queries=queries, qrels=qrels)


def file_manifest(folder: str | os.PathLike) -> dict[str, dict[str, object]]:
    """sha256 and size of every dataset file, by path relative to ``folder`` (no absolute paths, so the
    record is the same wherever the files came from)."""
    folder = Path(folder)
    out: dict[str, dict[str, object]] = {}
    for p in sorted([folder / "corpus.jsonl", folder / "queries.jsonl", *(folder / "qrels").glob("*.tsv")]):
        h = hashlib.sha256()
        with p.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        out[p.relative_to(folder).as_posix()] = {"bytes": p.stat().st_size, "sha256": h.hexdigest()}
    return out


def locate(dataset: str, url_template: str = BEIR_URL, download_dir: str | os.PathLike = ".cache/syneg/beir") -> Path:
    """Return the folder of ``dataset``: from ``$SYNEG_BEIR_DIR/<dataset>`` when that variable is set, else
    downloaded (once) from BEIR's public URL into ``download_dir``.

    Raises:
        DataError: when ``$SYNEG_BEIR_DIR`` is set but holds no ``<dataset>`` folder.
    """
    root = os.environ.get(ENV_DIR)
    if root:
        folder = Path(root) / dataset
        if not folder.is_dir():
            raise DataError(f"{ENV_DIR}={root}: no folder '{dataset}' in it. Put the BEIR files in "
                            f"{folder}/ or unset {ENV_DIR} to download from {url_template.format(dataset=dataset)}.")
        return folder
    return download(dataset, url_template, download_dir)


def download(dataset: str, url_template: str, download_dir: str | os.PathLike) -> Path:
    """Download and unzip ``dataset`` with BEIR's own downloader, unless already there."""
    download_dir = Path(download_dir)
    folder = download_dir / dataset
    if (folder / "corpus.jsonl").is_file():
        return folder
    from beir import util

    download_dir.mkdir(parents=True, exist_ok=True)
    url = url_template.format(dataset=dataset)
    try:
        return Path(util.download_and_unzip(url, str(download_dir)))
    except (OSError, ValueError, zipfile.BadZipFile) as exc:  # requests' errors are OSErrors
        # BEIR's downloader saves any answer (a 404 page, a cut transfer) and would reuse it on the next try
        (download_dir / url.rsplit("/", 1)[-1]).unlink(missing_ok=True)
        raise DataError(f"{url}: download failed ({type(exc).__name__}: {str(exc)[:160]}). Check the network and "
                        f"data.url, or set {ENV_DIR} to a folder that holds {dataset}/.") from None


def write_folder(ds: Dataset, dest: str | os.PathLike) -> Path:
    """Write ``ds`` in BEIR's layout (qrels with CRLF line ends and a header, as BEIR ships them)."""
    dest = Path(dest)
    (dest / "qrels").mkdir(parents=True, exist_ok=True)
    with (dest / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        for d, t, x in zip(ds.corpus["doc_id"], ds.corpus["title"], ds.corpus["text"]):
            fh.write(json.dumps({"_id": d, "title": t, "text": x, "metadata": {}}) + "\n")
    with (dest / "queries.jsonl").open("w", encoding="utf-8") as fh:
        for q, x in zip(ds.queries["query_id"], ds.queries["text"]):
            fh.write(json.dumps({"_id": q, "text": x, "metadata": {}}) + "\n")
    for split in ds.splits():
        sel = ds.qrels[ds.qrels["split"] == split]
        lines = ["query-id\tcorpus-id\tscore"] + [f"{q}\t{d}\t{s}" for q, d, s in
                                                  zip(sel["query_id"], sel["doc_id"], sel["score"])]
        (dest / "qrels" / f"{split}.tsv").write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")
    return dest
