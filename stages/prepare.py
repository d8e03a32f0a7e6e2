"""prepare: load a BEIR-format dataset (local folder or BEIR's URL), validate it, store it as parquet."""

from pathlib import Path

import typer

from syneg.cli import setup
from syneg.data import beir, store
from syneg.params import load_section, require

app = typer.Typer(add_completion=False)


@app.command()
def main(
    out: Path = typer.Option(Path("data/prepared"), help="Folder for corpus/queries/qrels parquet + manifest."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; reads the 'data' section."),
) -> None:
    """Load params 'data.dataset' from $SYNEG_BEIR_DIR/<dataset> if set, else download it from 'data.url'
    (BEIR's public URL), check every line, and write the fast form later stages read."""
    setup("prepare")
    section = load_section("data", params)
    name = require(section, "dataset", "data")
    folder = beir.locate(name, section.get("url", beir.BEIR_URL))
    ds = beir.load_folder(folder)
    manifest = {
        "dataset": name,
        "files": beir.file_manifest(folder),
        "counts": {
            "documents": int(len(ds.corpus)),
            "queries": int(len(ds.queries)),
            **{f"qrels_{s}": int((ds.qrels["split"] == s).sum()) for s in ds.splits()},
        },
    }
    store.save(ds, out, manifest)
    typer.echo(f"prepared {name}: {manifest['counts']}")


if __name__ == "__main__":
    app()
