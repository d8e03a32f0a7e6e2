"""mine: retrieve hard-negative candidates for every training (query, positive), positives removed."""

from pathlib import Path

import typer

from syneg.cli import config, setup
from syneg.data import store
from syneg.io import write_json, write_parquet
from syneg.mining import MineConfig, mine
from syneg.params import load_section

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(Path("data/prepared"), help="The prepare stage's folder."),
    out: Path = typer.Option(Path("data/mined"), help="Folder for pairs.parquet and candidates.parquet."),
    metrics: Path = typer.Option(Path("metrics/mine.json"), help="Counts of pairs and kept candidates."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; reads 'mine' and 'model'."),
) -> None:
    """Rank the corpus for each training query with params 'mine.method' (dense base model or BM25), drop
    positives and candidates scoring within 'mine.relative_margin' of the positive, keep 'mine.keep'."""
    setup("mine")
    cfg = config(MineConfig, "mine", params)
    model = load_section("model", params)
    pairs, cand, stats = mine(store.load(data), cfg, model["base"], model["max_seq_length"], model["batch_size"])
    write_parquet(out / "pairs.parquet", pairs)
    write_parquet(out / "candidates.parquet", cand)
    write_json(metrics, {"method": cfg.method, **stats})
    typer.echo(f"mined: {stats}")


if __name__ == "__main__":
    app()
