"""The real download path (BEIR's downloader) against a zip served on 127.0.0.1."""

import functools
import http.server
import shutil
import threading

from syneg.data.beir import file_manifest, load_folder, locate


def test_download_gives_the_same_files_as_the_local_folder(tmp_path, tiny_beir, monkeypatch):
    monkeypatch.delenv("SYNEG_BEIR_DIR", raising=False)
    served = tmp_path / "served"
    served.mkdir()
    shutil.make_archive(str(served / "tiny"), "zip", root_dir=tiny_beir.parent, base_dir="tiny")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{{dataset}}.zip"
        folder = locate("tiny", url, tmp_path / "downloads")
        assert file_manifest(folder) == file_manifest(tiny_beir)
        assert len(load_folder(folder).corpus) == 6
        assert locate("tiny", url, tmp_path / "downloads") == folder  # second call: no download
    finally:
        server.shutdown()
        server.server_close()


def test_a_failed_download_is_one_line_naming_the_url_and_leaves_nothing_to_reuse(tmp_path, monkeypatch):
    import pytest

    from syneg.data.store import DataError

    monkeypatch.delenv("SYNEG_BEIR_DIR", raising=False)
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{{dataset}}.zip"
        with pytest.raises(DataError, match=r"tiny\.zip: download failed \(BadZipFile.*set SYNEG_BEIR_DIR"):
            locate("tiny", url, tmp_path / "downloads")  # a 404 page, which BEIR's downloader saves as the zip
        assert not (tmp_path / "downloads/tiny.zip").exists()
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(DataError, match=r"download failed \(ConnectionError"):
        locate("tiny", url, tmp_path / "downloads")  # the server is gone
