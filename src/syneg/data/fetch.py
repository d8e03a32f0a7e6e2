"""Put each dataset params.yaml lists into ``data/raw/<dataset>``, a DVC-tracked input of the pipeline.

The folder is copied from ``$SYNEG_BEIR_DIR/<dataset>`` when that variable is set, else downloaded from
``data.url`` (BEIR's public URL), and tracked with ``dvc add``: its ``.dvc`` file pins the bytes, so an
edited corpus invalidates ``prepare`` and everything after it, and a download that differs from the pinned
one is refused. An existing folder is never overwritten: edit it, and ``dvc repro`` takes the edit.

Usage (``make repro`` runs it before ``dvc repro``)::

    python -m syneg.data.fetch            # every dataset of params.yaml's data.datasets

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
from typing import Any

import typer

from syneg.commands import run as run_command
from syneg.data import beir
from syneg.data.store import DataError
from syneg.params import for_stage

RAW = Path("data/raw")
PARAMS = ("data.datasets", "data.train", "data.url")  # outside the DAG: each .dvc file pins the fetched bytes
RESERVED = {"raw"}  # data/<dataset>/ holds a dataset's outputs, data/raw/ the fetched folders


def check_lists(datasets: Any, train: Any, where: str = "params.yaml") -> list[str]:
    """The dataset names of ``data.datasets``, checked with ``data.train`` against them.

    Raises:
        DataError: a list that is not a list of plain names, a reserved or repeated name, or a training
            dataset that ``data.datasets`` does not list (its pipeline would have no prepared data).
    """
    for key, value in (("data.datasets", datasets), ("data.train", train)):
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise DataError(f"{where}: {key} is {value!r}; it must be a list of dataset names, e.g. [scifact]")
        bad = [v for v in value if v in RESERVED or not v.replace("-", "").replace("_", "").isalnum()]
        if bad:
            raise DataError(f"{where}: {key} names '{bad[0]}'; a dataset name is letters, digits, '-' and '_', "
                            f"and not {', '.join(sorted(RESERVED))}")
        if len(set(value)) != len(value):
            raise DataError(f"{where}: {key} lists a dataset twice: {value}")
    if not train:
        raise DataError(f"{where}: data.train is empty; name at least one dataset to fine-tune on (the plots and "
                        f"the syneg-retriever artifact follow the first)")
    missing = [t for t in train if t not in datasets]
    if missing:
        raise DataError(f"{where}: data.train names '{missing[0]}', which data.datasets does not list; add it "
                        f"there (a trained dataset is prepared and scored like the others)")
    return list(datasets)


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
    changes = [why for entry in status.get(str(pin), []) if isinstance(entry, dict)
               for why in (entry.get("changed outs") or {}).values()]
    if status and changes and all(why == "not in cache" for why in changes):
        # a fresh clone: the bytes hash to the pinned ones, DVC's cache just has not seen them yet
        _dvc("commit", "-f", "-q", str(pin))
        return f"{folder} matches {pin}"
    if status and fetched:
        raise DataError(f"{folder}: the fetched files differ from the ones {pin} pins (another version of the "
                        f"dataset?). Inspect them, then `dvc add {folder}` to accept them, or restore the "
                        f"pinned ones with `dvc pull {pin}`.")
    return f"{folder} matches {pin}" if not status else f"{folder} is edited (dvc repro will use the edit)"


app = typer.Typer(add_completion=False)


@app.command()
def main(
    raw: Path = typer.Option(RAW, help="Folder for the raw datasets (one subfolder each)."),
    params: Path = typer.Option(Path("params.yaml"), help="Params file; reads data.datasets, data.train and "
                                "data.url."),
) -> None:
    """Fetch each dataset of params 'data.datasets' into RAW/<dataset> and track it with DVC."""
    p = for_stage("fetch", PARAMS, params)
    for name in check_lists(p.get("data.datasets"), p.get("data.train"), str(params)):
        existed = (raw / name).exists()
        folder = fetch(name, p.get("data.url"), raw)
        typer.echo(track(folder, fetched=not existed))


if __name__ == "__main__":
    from syneg.cli import run

    run(app)
