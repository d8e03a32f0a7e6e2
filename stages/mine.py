"""mine: retrieve hard-negative candidates for every training (query, positive), positives removed."""

from pathlib import Path

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.embeddings import Embeddings
from syneg.io import write_json, write_parquet
from syneg.mining import MineConfig, mine
from syneg.params import for_stage

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("mine",)

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    embeddings: Path = typer.Option(..., help="The encode_base stage's folder (read when 'mine.method' is dense)."),
    out: Path = typer.Option(..., help="Folder for pairs.parquet and candidates.parquet."),
    metrics: Path = typer.Option(..., help="Counts of pairs and kept candidates."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """Rank the corpus for each training query with params 'mine.method' (dense base model or BM25), drop
    positives and candidates scoring within 'mine.relative_margin' of the positive, keep 'mine.keep'."""
    setup("mine")
    p = for_stage("mine", PARAMS, params)
    cfg = p.build(MineConfig, "mine")
    ds = store.load(data)
    emb = Embeddings.load(embeddings, ds) if cfg.method == "dense" else None
    pairs, cand, stats = mine(ds, cfg, emb=emb, chunk_size=p.runtime("search_chunk_size"))
    write_parquet(out / "pairs.parquet", pairs)
    write_parquet(out / "candidates.parquet", cand)
    write_json(metrics, {"method": cfg.method, **stats})
    typer.echo(f"mined: {stats}")


if __name__ == "__main__":
    run(app)
