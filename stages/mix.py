"""mix: give each training instance its hard negatives, a 'mix.ratio' share synthetic, the rest retrieved."""

from pathlib import Path

import typer

from syneg.cli import run, setup
from syneg.data import store
from syneg.io import read_parquet, write_json, write_parquet
from syneg.mixing import MixConfig, mix, without_flagged
from syneg.params import for_stage

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag).
PARAMS = ("mix",)

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(..., help="The prepare stage's folder."),
    mined: Path = typer.Option(..., help="The mine stage's folder."),
    synthetic: Path = typer.Option(..., help="The reflect stage's kept negatives."),
    judged: Path = typer.Option(..., help="The judge stage's flagged retrieved negatives (left out of the pool)."),
    out: Path = typer.Option(..., help="Folder for train.parquet and provenance.parquet."),
    metrics: Path = typer.Option(..., help="Counts of each kind of negative."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """'mix.strategy' hybrid (every instance gets both kinds, the paper's method), direct (dataset-level
    pooling), synthetic_only or retrieved_only; 'mix.num_negatives' per instance; writes
    sentence-transformers' (anchor, positive, negative_1..k) table."""
    setup("mix")
    cfg = for_stage("mix", PARAMS, params).build(MixConfig, "mix")
    candidates, judged_stats = without_flagged(read_parquet(mined / "candidates.parquet"), read_parquet(judged))
    train, provenance, stats = mix(store.load(data), read_parquet(mined / "pairs.parquet"), candidates,
                                   read_parquet(synthetic), cfg)
    stats.update(judged_stats)
    write_parquet(out / "train.parquet", train)
    write_parquet(out / "provenance.parquet", provenance)
    write_json(metrics, {"strategy": cfg.strategy, "ratio": cfg.ratio, "synthetic_ratio": cfg.synthetic_ratio,
                         **stats})
    typer.echo(f"mixed: {stats}")


if __name__ == "__main__":
    run(app)
