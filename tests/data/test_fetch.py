"""make data: the dataset becomes a DVC-tracked input; a fetch that differs from the pinned bytes is refused."""

import shutil
import subprocess
import sys

import pytest

from syneg.data.fetch import check_lists, fetch, track
from syneg.data.store import DataError


def _dvc_repo(path):
    subprocess.run(["git", "init", "-q"], cwd=path, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=path, check=True)


def _project(tiny_beir, tmp_path, monkeypatch):
    """A git + DVC repo as the working folder, and a BEIR folder holding ``tiny`` as ``$SYNEG_BEIR_DIR``."""
    source = tmp_path / "beir"
    shutil.copytree(tiny_beir, source / "tiny")
    repo = tmp_path / "repo"
    repo.mkdir()
    _dvc_repo(repo)
    monkeypatch.setenv("SYNEG_BEIR_DIR", str(source))
    monkeypatch.chdir(repo)
    return source, repo


def test_fetch_tracks_the_dataset_and_refuses_other_bytes(tiny_beir, tmp_path, monkeypatch):
    source, repo = _project(tiny_beir, tmp_path, monkeypatch)

    folder = fetch("tiny", "https://example.invalid/{dataset}.zip", "data/raw")
    assert (folder / "corpus.jsonl").read_bytes() == (tiny_beir / "corpus.jsonl").read_bytes()
    assert track(folder, fetched=True).startswith("tracked data/raw/tiny")
    assert (repo / "data/raw/tiny.dvc").is_file() and not list((repo / "data/raw").glob(".fetch-*"))
    assert track(folder, fetched=False) == "data/raw/tiny matches data/raw/tiny.dvc"

    with open(folder / "corpus.jsonl", "a", encoding="utf-8") as fh:  # an edit is the user's: kept
        fh.write('{"_id": "dx", "title": "", "text": "An added document."}\n')
    assert fetch("tiny", "unused", "data/raw") == folder and "edited" in track(folder, fetched=False)

    shutil.rmtree(folder)  # fetched again from a source that changed: refused, with the fix
    with open(source / "tiny" / "corpus.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"_id": "dy", "title": "", "text": "Another document."}\n')
    fetch("tiny", "unused", "data/raw")
    with pytest.raises(DataError, match=r"differ from the ones data/raw/tiny.dvc pins .*`dvc add data/raw/tiny`"):
        track(folder, fetched=True)


def test_a_missing_source_names_the_variable_and_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNEG_BEIR_DIR", str(tmp_path))
    with pytest.raises(DataError, match="SYNEG_BEIR_DIR=.*no folder 'nope'"):
        fetch("nope", "https://example.invalid/{dataset}.zip", tmp_path / "raw")
    assert not any((tmp_path / "raw").iterdir())  # nothing half-fetched


@pytest.mark.parametrize("datasets, train, message", [
    ("scifact", ["scifact"], "data.datasets is 'scifact'; it must be a list of dataset names"),
    (["scifact"], ["fiqa"], "data.train names 'fiqa', which data.datasets does not list; add it there"),
    (["scifact"], [], "data.train is empty; name at least one dataset"),
    (["raw"], ["raw"], "data.datasets names 'raw'; a dataset name is letters, digits"),
    (["sci/fact"], ["sci/fact"], "data.datasets names 'sci/fact'"),
    (["scifact", "scifact"], ["scifact"], "data.datasets lists a dataset twice"),
])
def test_dataset_lists_are_checked_before_anything_is_fetched(datasets, train, message):
    with pytest.raises(DataError, match="^p.yaml: " + message.replace("[", r"\[").replace("(", r"\(")):
        check_lists(datasets, train, "p.yaml")


def test_a_test_only_dataset_is_listed_in_datasets_alone():
    assert check_lists(["scifact", "quora"], ["scifact"]) == ["scifact", "quora"]


def test_a_fresh_clone_fetches_the_pinned_bytes_without_complaint(tiny_beir, tmp_path, monkeypatch):
    """A clone has the .dvc pin but neither the folder nor DVC's cache: `make data` fetches, finds the pinned
    bytes (DVC says "not in cache", not "modified"), caches them, and the pipeline's input is up to date."""
    _, repo = _project(tiny_beir, tmp_path, monkeypatch)
    track(fetch("tiny", "unused", "data/raw"), fetched=True)
    shutil.rmtree(repo / "data/raw/tiny")
    shutil.rmtree(repo / ".dvc/cache")  # what a fresh clone lacks
    folder = fetch("tiny", "unused", "data/raw")
    assert track(folder, fetched=True) == "data/raw/tiny matches data/raw/tiny.dvc"
    out = subprocess.run([sys.executable, "-m", "dvc", "status", "data/raw/tiny.dvc"], capture_output=True,
                         text=True, check=True).stdout
    assert "up to date" in out
