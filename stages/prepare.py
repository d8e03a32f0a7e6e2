"""prepare: validate a BEIR-format dataset folder (data/raw/<dataset>, tracked by DVC) and store it as parquet."""

from pathlib import Path

import typer

from syneg.cli import run, setup
from syneg.data import beir, store
from syneg.params import for_stage

# The params keys this stage's outputs depend on: dvc.yaml lists exactly these (python -m syneg.dag). None: the
# dataset is the folder dvc.yaml's foreach over data.datasets passes (data/raw/<dataset>).
PARAMS = ()

app = typer.Typer(add_completion=False)


@app.command()
def main(
    source: Path = typer.Option(..., help="The dataset's BEIR folder (corpus.jsonl, queries.jsonl, qrels/)."),
    out: Path = typer.Option(..., help="Folder for corpus/queries/qrels parquet + manifest."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; the stage reads the keys PARAMS "
                                "lists."),
) -> None:
    """Check every line of a dataset of params 'data.datasets' (fetched into SOURCE, data/raw/<dataset>, by
    `python -m syneg.data.fetch`) and write the fast form later stages read."""
    setup("prepare")
    for_stage("prepare", PARAMS, params)  # validates the file; the dataset's name is its folder's
    name = source.name
    if not source.is_dir():
        raise beir.DataError(f"{source}: no dataset folder. Fetch it with `python -m syneg.data.fetch` (make "
                             f"repro does), or put a BEIR folder there.")
    ds = beir.load_folder(source)
    manifest = {
        "dataset": name,
        "files": beir.file_manifest(source),
        "counts": {
            "documents": int(len(ds.corpus)),
            "queries": int(len(ds.queries)),
            **{f"qrels_{s}": int((ds.qrels["split"] == s).sum()) for s in ds.splits()},
        },
    }
    store.save(ds, out, manifest)
    typer.echo(f"prepared {name}: {manifest['counts']}")


if __name__ == "__main__":
    run(app)
