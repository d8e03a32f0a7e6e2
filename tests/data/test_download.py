"""The real download path (BEIR's downloader) against a zip served on 127.0.0.1."""

import contextlib
import functools
import http.server
import shutil
import threading

import pytest

from syneg.data.beir import file_manifest, load_folder, locate
from syneg.data.store import DataError


@contextlib.contextmanager
def _serving(folder):
    """Serve ``folder`` on a free local port; yields BEIR's URL template for it."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{{dataset}}.zip"
    finally:
        server.shutdown()
        server.server_close()


def test_download_gives_the_same_files_as_the_local_folder(tmp_path, tiny_beir, monkeypatch):
    monkeypatch.delenv("SYNEG_BEIR_DIR", raising=False)
    served = tmp_path / "served"
    served.mkdir()
    shutil.make_archive(str(served / "tiny"), "zip", root_dir=tiny_beir.parent, base_dir="tiny")
    with _serving(served) as url:
        folder = locate("tiny", url, tmp_path / "downloads")
        assert file_manifest(folder) == file_manifest(tiny_beir)
        assert len(load_folder(folder).corpus) == 6
        assert locate("tiny", url, tmp_path / "downloads") == folder  # second call: no download


def test_a_failed_download_is_one_line_naming_the_url_and_leaves_nothing_to_reuse(tmp_path, monkeypatch):
    monkeypatch.delenv("SYNEG_BEIR_DIR", raising=False)
    served = tmp_path / "served"
    served.mkdir()
    with _serving(served) as url:
        with pytest.raises(DataError, match=r"tiny\.zip: download failed \(BadZipFile.*set SYNEG_BEIR_DIR"):
            locate("tiny", url, tmp_path / "downloads")  # a 404 page, which BEIR's downloader saves as the zip
        assert not (tmp_path / "downloads/tiny.zip").exists()
    with pytest.raises(DataError, match=r"download failed \(ConnectionError"):
        locate("tiny", url, tmp_path / "downloads")  # the server is gone
