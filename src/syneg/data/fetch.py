"""Put the dataset that params.yaml names into ``data/raw/<dataset>``, a DVC-tracked input of the pipeline.

The folder is copied from ``$SYNEG_BEIR_DIR/<dataset>`` when that variable is set, else downloaded from
``data.url`` (BEIR's public URL), and tracked with ``dvc add``: its ``.dvc`` file pins the bytes, so an
edited corpus invalidates ``prepare`` and everything after it, and a download that differs from the pinned
one is refused. An existing folder is never overwritten: edit it, and ``dvc repro`` takes the edit.

Usage (``make repro`` runs it before ``dvc repro``)::

    python -m syneg.data.fetch            # the dataset of params.yaml's data.dataset

Example:
    >>> fetch("scifact", "https://example.invalid/{dataset}.zip", "data/raw")  # doctest: +SKIP
    PosixPath('data/raw/scifact')
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import typer

from syneg.commands import run as run_command
from syneg.data import beir
from syneg.data.store import DataError
from syneg.params import for_stage

RAW = Path("data/raw")
PARAMS = ("data.dataset", "data.url")  # outside the DAG: the .dvc file pins the fetched bytes


def _dvc(*args: str) -> str:
    return run_command([sys.executable, "-m", "dvc", *args], ".", DataError)


def fetch(dataset: str, url: str, raw: str | Path = RAW) -> Path:
    """Copy or download ``dataset`` to ``raw/<dataset>`` unless it is there; return the folder.

    Raises:
        DataError: when the source has no such dataset or the folder is not a BEIR folder.
    """
    dest = Path(raw) / dataset
    if dest.exists():
        return dest
    Path(raw).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=raw, prefix=".fetch-") as tmp:  # same disk: the rename is atomic
        source = beir.locate(dataset, url, download_dir=Path(tmp) / "download")
        beir.load_folder(source)  # refuse a broken source before it becomes a pipeline input
        staged = Path(tmp) / dataset
        shutil.copytree(source, staged)
        staged.rename(dest)  # whole or not at all
    return dest


def track(folder: Path, fetched: bool) -> str:
    """``dvc add`` ``folder`` when no ``.dvc`` file tracks it; when one does and the folder was just fetched,
    check that the bytes are the pinned ones. Returns what it did."""
    pin = folder.parent / f"{folder.name}.dvc"
    if not pin.exists():
        _dvc("add", "-q", str(folder))
        return f"tracked {folder} (commit {pin} to pin it)"
    status = json.loads(_dvc("status", "--json", str(pin)) or "{}")
    if status and fetched:
        raise DataError(f"{folder}: the fetched files differ from the ones {pin} pins (another version of the "
                        f"dataset?). Inspect them, then `dvc add {folder}` to accept them, or restore the "
                        f"pinned ones with `dvc pull {pin}`.")
    return f"{folder} matches {pin}" if not status else f"{folder} is edited (dvc repro will use the edit)"


app = typer.Typer(add_completion=False)


@app.command()
def main(
    raw: Path = typer.Option(RAW, help="Folder for the raw datasets (one subfolder each)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; reads data.dataset and data.url."),
) -> None:
    """Fetch params 'data.dataset' into RAW/<dataset> and track it with DVC."""
    p = for_stage("fetch", PARAMS, params)
    name = p.get("data.dataset")
    existed = (raw / name).exists()
    folder = fetch(name, p.get("data.url"), raw)
    typer.echo(track(folder, fetched=not existed))


if __name__ == "__main__":
    from syneg.cli import run

    run(app)
