"""Run an encoder's transformer on ONNX Runtime or OpenVINO instead of PyTorch (``model.backend``).

sentence-transformers' own ``backend="onnx"`` / ``"openvino"`` go through Hugging Face optimum, whose releases
pin transformers below the 5.x that sentence-transformers 6 needs (optimum-onnx 0.1.0: < 4.58; optimum-intel
2.2.0: < 5.6), so they cannot be installed beside this stack. This module does the part optimum would: export
the model's transformer once (``torch.onnx.export`` or ``openvino.convert_model``), optionally quantize it to
int8 (ONNX Runtime's dynamic quantization, or NNCF's weight compression for OpenVINO), and put the compiled
model where sentence-transformers calls its transformer, exactly as optimum's models are plugged in. Tokenizing,
length-sorted batching, pooling and normalising stay sentence-transformers' own.

Exports are cached under ``$SYNEG_CACHE_DIR/exported/<model fingerprint>/`` (keyed by the model's files and
the versions of transformers, torch and the runtime); deleting them costs only the export (seconds). An export
runs on the CPU (these runtimes' CPU plugins), also on a machine with a GPU.

``auto`` picks the fastest path that changes no metric: OpenVINO where torch has no GPU (encoding 2.0 x
faster here, every pipeline metric equal to torch's), torch on a GPU (OpenVINO's plugin here is the CPU's).

Which combination does what (``make bench`` measures rate and nDCG@10 of each):

========  ===========================  =====================================================
backend   precision                    how
========  ===========================  =====================================================
torch     fp32, bf16                   PyTorch; bf16 is autocast
onnx      fp32, int8                   ONNX Runtime; int8: dynamic quantization of MatMuls
openvino  fp32, bf16, int8             OpenVINO's CPU plugin; bf16 is its inference
                                       precision hint; int8: NNCF int8 weight compression
========  ===========================  =====================================================

Example:
    >>> from syneg.backends import check_backend
    >>> check_backend("openvino", "bf16")
    ('openvino', 'bf16')
    >>> check_backend("onnx", "bf16")
    Traceback (most recent call last):
    ...
    syneg.params.ParamsError: model.precision is 'bf16' with model.backend 'onnx'; onnx runs fp32 or int8: set model.precision to one of those, or model.backend to torch or openvino.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from syneg.io import atomic_path
from syneg.locking import file_lock
from syneg.params import ParamsError

log = logging.getLogger(__name__)

BACKENDS: dict[str, tuple[str, ...]] = {"torch": ("fp32", "bf16"), "onnx": ("fp32", "int8"),
                                        "openvino": ("fp32", "bf16", "int8")}
# what an export depends on besides the model's files: the traced model code (transformers), the tracer (torch)
# and the runtime that converts and quantizes; a new version of any of them makes a new export
_LIBRARIES = {"onnx": ("transformers", "torch", "onnx", "onnxruntime"),
              "openvino": ("transformers", "torch", "openvino")}
_INT8 = {"onnx": (), "openvino": ("nncf",)}
_FILES = {"onnx": ("model.onnx",), "openvino": ("model.xml", "model.bin")}


def resolve(backend: str) -> str:
    """The backend ``auto`` stands for on this machine: ``openvino`` when torch has no GPU and OpenVINO is
    installed, else ``torch``; any other value as it is."""
    if backend != "auto":
        return backend
    import importlib.util

    import torch

    return "openvino" if not torch.cuda.is_available() and importlib.util.find_spec("openvino") else "torch"


def check_backend(backend: str, precision: str) -> tuple[str, str]:
    """``(backend, precision)`` when the pair is one of :data:`BACKENDS` (``auto`` resolved, :func:`resolve`);
    else a one-line error naming the keys."""
    if backend not in BACKENDS and backend != "auto":
        raise ParamsError(f"model.backend is {backend!r}; use one of {', '.join(BACKENDS)} or auto.")
    backend = resolve(backend)
    if precision not in BACKENDS[backend]:
        others = [b for b, ps in BACKENDS.items() if precision in ps]
        if backend == "torch":  # the default backend: the message need not name it
            hint = f" ({precision}: with model.backend {' or '.join(others)})" if others else ""
            raise ParamsError(f"model.precision is {precision!r}; use one of {', '.join(BACKENDS[backend])}{hint}.")
        fix = f", or model.backend to {' or '.join(others)}" if others else ""
        raise ParamsError(f"model.precision is {precision!r} with model.backend {backend!r}; {backend} runs "
                          f"{' or '.join(BACKENDS[backend])}: set model.precision to one of those{fix}.")
    return backend, precision


def export_key(backend: str, precision: str) -> str:
    """The export's folder name: backend, stored precision and the versions of the libraries that made it.

    OpenVINO bf16 is a compile-time hint on the fp32 export, so both share one folder.

    Raises:
        ParamsError: a library the backend needs is not installed (the message says what to install).
    """
    stored = _stored(precision)
    libs = _LIBRARIES.get(backend, ()) + (_INT8.get(backend, ()) if stored == "int8" else ())
    try:
        versions = "-".join(f"{lib}{version(lib)}" for lib in libs)
    except PackageNotFoundError as exc:
        raise ParamsError(f"model.backend is {backend!r}, which needs the package {exc.name}: pip install "
                          f"{exc.name} (make setup installs it), or set model.backend to torch.") from None
    return f"{backend}-{stored}" + (f"-{versions}" if versions else "")


def _stored(precision: str) -> str:
    """The precision an export is stored in: OpenVINO's bf16 is a compile hint on the fp32 export."""
    return "fp32" if precision == "bf16" else precision


def attach(model, backend: str, precision: str, folder: Path) -> None:
    """Run ``model``'s transformer (its first module) on ``backend``, exporting it into ``folder`` if needed.

    Args:
        model: a ``SentenceTransformer`` whose first module is a ``Transformer``; changed in place.
        backend: ``onnx`` or ``openvino`` (``torch`` leaves the model as it is).
        precision: one of ``BACKENDS[backend]``.
        folder: where the exported model is kept (written whole or not at all).
    """
    check_backend(backend, precision)
    if backend == "torch":
        return
    transformer = _text_transformer(model)
    names = _input_names(transformer)
    file = folder / _FILES[backend][0]
    # another process exporting the same model waits, then reuses its export
    with file_lock(folder.parent / f".{folder.name}.lock"):
        if not all((folder / f).is_file() for f in _FILES[backend]):
            stored = _stored(precision)
            with atomic_path(folder, is_dir=True) as tmp:
                (_export_onnx if backend == "onnx" else _export_openvino)(transformer, names, stored, tmp / file.name)
            log.info("exported %s (%s, %s) to %s", type(transformer.model).__name__, backend, stored, folder)
    runner = _onnx_runner(file) if backend == "onnx" else _openvino_runner(file, precision)
    transformer.model = _compiled(transformer.model.config, names, runner)


def _text_transformer(model):
    """The model's first module when it is a text transformer whose ``forward`` gives the token embeddings."""
    from sentence_transformers.base.modules.transformer import Transformer

    first = model[0]
    text = getattr(first, "modality_config", {}).get("text", {}) if isinstance(first, Transformer) else {}
    if (text.get("method"), text.get("method_output_name")) != ("forward", "last_hidden_state"):
        raise ParamsError(f"model.backend onnx / openvino exports a text Transformer module's forward; this model's "
                          f"first module is {type(first).__name__}: set model.backend to torch.")
    return first


def _input_names(transformer) -> list[str]:
    sample = transformer.tokenizer(["a"], return_tensors="pt")
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in sample]


def _traceable(transformer, names):
    import torch

    class LastHidden(torch.nn.Module):
        """The transformer as a function of its tensor inputs, returning ``last_hidden_state`` (what pooling reads)."""

        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, *tensors):
            return self.inner(**dict(zip(names, tensors)), return_dict=True).last_hidden_state

    sample = transformer.tokenizer(["a short text", "a somewhat longer text than that"], padding=True,
                                   return_tensors="pt")
    return LastHidden(transformer.model).eval(), tuple(sample[n] for n in names)


@contextlib.contextmanager
def _tracing():
    """No gradients, and none of the warnings that tracing an encoder always gives.

    transformers' mask code compares shapes that tracing turns into constants, which for an encoder they are
    (mask length = tokens; the tests compare exports with torch on batches of other shapes); the tracing APIs
    themselves warn of their deprecation (torch is pinned). Other warnings still show.
    """
    import torch

    with warnings.catch_warnings(), torch.no_grad():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning, module=r"transformers\.")
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
        warnings.filterwarnings("ignore", message="Exporting aten::index operator")
        yield


def _export_onnx(transformer, names, precision, path: Path) -> None:
    import torch

    module, args = _traceable(transformer, names)
    axes = {n: {0: "batch", 1: "tokens"} for n in [*names, "last_hidden_state"]}
    fp32 = path.with_name("fp32.onnx") if precision == "int8" else path
    with _tracing():
        # the TorchScript exporter: the dynamo one needs onnxscript, which this stack does not install
        torch.onnx.export(module, args, str(fp32), input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    if precision == "int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quantize_dynamic(str(fp32), str(path), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=["MatMul"])
        fp32.unlink()


def _export_openvino(transformer, names, precision, path: Path) -> None:
    import openvino as ov

    module, args = _traceable(transformer, names)
    with _tracing():
        converted = ov.convert_model(module, example_input=args)
    for port, name in zip(converted.inputs, names):
        port.get_tensor().set_names({name})
    if precision == "int8":
        import nncf

        converted = nncf.compress_weights(converted, mode=nncf.CompressWeightsMode.INT8_ASYM)
    ov.save_model(converted, str(path), compress_to_fp16=False)  # the default would round fp32 weights to fp16


def _onnx_runner(path: Path):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return lambda feed: session.run(None, feed)[0]


def _openvino_runner(path: Path, precision: str):
    import openvino as ov

    hint = {"fp32": "f32", "bf16": "bf16", "int8": "f32"}[precision]
    compiled = ov.Core().compile_model(str(path), "CPU", {"INFERENCE_PRECISION_HINT": hint})
    request = compiled.create_infer_request()
    return lambda feed: request.infer(feed)[0].copy()


def _compiled(config, names: list[str], runner):
    """The module that replaces the transformer's model (made here: importing syneg needs no torch)."""
    import torch

    class Compiled(torch.nn.Module):
        """Stands where sentence-transformers calls the transformer: tensors in, ``last_hidden_state`` out."""

        def __init__(self, config, names, runner):
            super().__init__()
            self.config = config
            self.names = names
            self.runner = runner

        def forward(self, input_ids, **features):
            features["input_ids"] = input_ids
            out = self.runner({n: features[n].cpu().numpy() for n in self.names})
            return {"last_hidden_state": torch.from_numpy(out).to(input_ids.device)}

    return Compiled(config, names, runner)
