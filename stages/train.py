"""train: fine-tune the base retriever with InfoNCE (MultipleNegativesRankingLoss, scale = 1/temperature)."""

from pathlib import Path

import typer

from syneg.cli import config, setup
from syneg.io import read_parquet, split_timings, write_json, write_timings
from syneg.params import load_section
from syneg.training import TrainConfig, train

app = typer.Typer(add_completion=False)


@app.command()
def main(
    data: Path = typer.Option(Path("data/mixed/train.parquet"), help="The mix stage's training table."),
    out: Path = typer.Option(Path("models/finetuned"), help="Folder for the fine-tuned model."),
    metrics: Path = typer.Option(Path("metrics/train.json"), help="Steps, final loss, gradient-norm mean and variance."),
    live: Path = typer.Option(Path("dvclive/train"), help="DVCLive folder for the loss curve."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; reads 'train' and 'model'."),
) -> None:
    """Fine-tune params 'model.base' on the mixed table: in-batch plus hard negatives, temperature
    'train.temperature', seeded by 'train.seed'; the curve goes to DVCLive."""
    setup("train")
    cfg = config(TrainConfig, "train", params)
    model = load_section("model", params)
    summary = train(model["base"], read_parquet(data), cfg, out, str(live), model["max_seq_length"])
    write_timings("train", split_timings(summary))
    write_json(metrics, summary)
    typer.echo(f"trained: {summary}")


if __name__ == "__main__":
    app()
