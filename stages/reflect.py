"""reflect: check each synthetic negative; drop likely false negatives, near-copies and garbled text."""

from pathlib import Path

import typer

from syneg.cli import config, setup
from syneg.data import store
from syneg.io import read_parquet, write_json, write_parquet
from syneg.params import load_section
from syneg.reflection import ReflectConfig, reflect

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(Path("data/prepared"), help="The prepare stage's folder."),
    synthetic: Path = typer.Option(Path("data/synthetic/negatives.parquet"), help="The synthesize stage's table."),
    out: Path = typer.Option(Path("data/reflected"), help="Folder for kept.parquet and dropped.parquet."),
    metrics: Path = typer.Option(Path("metrics/reflect.json"), help="Acceptance rate and counts per reason."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; reads 'reflect' and 'model'."),
) -> None:
    """Keep a synthetic negative only if it is real text, not a near-copy of the positive
    ('reflect.max_copy_jaccard'), not a repeat, and scored by the base model below the positive by
    'reflect.relative_margin'. Every drop is recorded with its reason."""
    setup("reflect")
    cfg = config(ReflectConfig, "reflect", params)
    model = load_section("model", params)
    kept, dropped, stats = reflect(store.load(data), read_parquet(synthetic), cfg, model["base"],
                                   model["max_seq_length"], model["batch_size"])
    write_parquet(out / "kept.parquet", kept)
    write_parquet(out / "dropped.parquet", dropped)
    write_json(metrics, stats)
    typer.echo(f"reflected: {stats}")


if __name__ == "__main__":
    app()
