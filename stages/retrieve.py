"""retrieve: rank the corpus for the evaluation queries with BM25 or a model's embeddings; a TREC run file."""

from pathlib import Path
from typing import Optional

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.embeddings import Embeddings
from syneg.params import for_stage
from syneg.retrieval.bm25 import bm25_run
from syneg.retrieval.dense import dense_run
from syneg.retrieval.trec import write_trec

# Per stage that runs this script, the params keys its outputs depend on: dvc.yaml lists exactly these.
PARAMS = {
    "retrieve_bm25": ("evaluate.split", "evaluate.depth", "evaluate.bm25_k1", "evaluate.bm25_b"),
    "retrieve_bm25_multifield": ("evaluate.split", "evaluate.depth", "evaluate.bm25_k1", "evaluate.bm25_b"),
    "retrieve_base": ("evaluate.split", "evaluate.depth"),
    "retrieve_finetuned": ("evaluate.split", "evaluate.depth"),
}

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    out: Path = typer.Option(..., help="The run file to write (TREC format)."),
    system: str = typer.Option(..., help="bm25 (Pyserini Lucene, title and text as one field), bm25_multifield "
                               "(title and text as fields), or the name of the embeddings: base, finetuned."),
    embeddings: Optional[Path] = typer.Option(None, help="An encode stage's folder (for a dense system)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists for it."),
) -> None:
    """The top 'evaluate.depth' documents for every query of split 'evaluate.split': BM25 flat or multifield
    (k1 'evaluate.bm25_k1', b 'evaluate.bm25_b'), or exact inner-product search over EMBEDDINGS."""
    stage = f"retrieve_{system}"
    setup(stage)
    p = for_stage(stage, PARAMS[stage], params)
    ds = store.load(data)
    split, depth = p.get("evaluate.split"), p.get("evaluate.depth")
    query_ids = list(ds.relevant(split))
    if system in ("bm25", "bm25_multifield"):
        ranking = bm25_run(ds, query_ids, p.get("evaluate.bm25_k1"), p.get("evaluate.bm25_b"), depth,
                           multifield=system == "bm25_multifield")
    elif embeddings is None:
        raise typer.BadParameter(f"system '{system}' is dense: pass its encode stage's folder.",
                                 param_hint="--embeddings")
    else:
        ranking = dense_run(Embeddings.load(embeddings, ds), query_ids, depth, p.runtime("search_chunk_size"))
    write_trec(out, ranking, f"syneg-{system}")
    typer.echo(f"{stage}: {len(ranking)} queries of split {split}, top {depth}, written to {out}")


if __name__ == "__main__":
    run(app)
