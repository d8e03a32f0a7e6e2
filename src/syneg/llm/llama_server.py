"""llama.cpp's ``llama-server``: find or build the binary, start it on a free local port, stop it.

The binary is built from the llama.cpp source that the installed llama-cpp-python's source distribution
vendors (same version as the in-process engine; no other download), with cmake, into
``$SYNEG_CACHE_DIR/bin/llama-server``: ``python -m syneg.llm.llama_server build`` (or ``make llama-server``),
or automatically the first time a stage needs it. On x86 it is built for the native CPU *without* AMX: these
CPUs advertise AMX, but virtual machines often do not enable it, and a binary using it dies on the first
decode.

Example:
    >>> server_command(Path("llama-server"), Path("m.gguf"), 8080, n_threads=2, n_ctx=4096, parallel=4)[:5]
    ['llama-server', '-m', 'm.gguf', '--host', '127.0.0.1']
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Sequence

from syneg import lifetime
from syneg.errors import UserError

log = logging.getLogger(__name__)

NO_AMX = "-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"


class ServerError(UserError, RuntimeError):
    """llama-server could not be built or started."""


def bin_dir() -> Path:
    return Path(os.environ.get("SYNEG_CACHE_DIR", ".cache/syneg")) / "bin"


def find_binary(binary: str | None = None, build_if_missing: bool = True) -> Path:
    """``binary`` when given, else ``$SYNEG_LLAMA_SERVER``, else ``llama-server`` in the cache folder or on
    PATH, else a fresh build."""
    binary = binary or os.environ.get("SYNEG_LLAMA_SERVER") or None
    if binary:
        path = Path(binary)
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ServerError(f"runtime.llamacpp.server_binary: {path} is not an executable file; build one with "
                              f"'python -m syneg.llm.llama_server build' or set it to null.")
        return path
    for path in (bin_dir() / "llama-server", shutil.which("llama-server")):
        if path and Path(path).is_file():
            return Path(path)
    if not build_if_missing:
        raise ServerError("no llama-server binary; build it: python -m syneg.llm.llama_server build")
    return build()


def build(dest: Path | None = None, jobs: int | None = None) -> Path:
    """Build ``llama-server`` from the llama.cpp source vendored in llama-cpp-python's sdist (~8 min on 2 cores)."""
    import llama_cpp

    dest = dest or bin_dir()
    version = llama_cpp.__version__
    with tempfile.TemporaryDirectory(prefix="llama-server-build-") as tmp:
        tmp = Path(tmp)
        log.info("building llama-server %s: fetching the llama-cpp-python source distribution", version)
        _run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
              f"llama-cpp-python=={version}", "-d", str(tmp)], "pip download of the llama-cpp-python source")
        sdist = next(tmp.glob("llama_cpp_python-*.tar.gz"), None)
        if sdist is None:
            raise ServerError(f"pip download gave no llama_cpp_python-{version}.tar.gz")
        shutil.unpack_archive(str(sdist), str(tmp))
        src = next(tmp.glob("llama_cpp_python-*/vendor/llama.cpp"))
        env = dict(os.environ)
        if platform.machine().lower() in ("x86_64", "amd64"):
            env["CFLAGS"] = f"{env.get('CFLAGS', '')} {NO_AMX}".strip()
            env["CXXFLAGS"] = f"{env.get('CXXFLAGS', '')} {NO_AMX}".strip()
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        build_dir = tmp / "build"
        log.info("building llama-server %s with cmake (several minutes)", version)
        _run(["cmake", "-S", str(src), "-B", str(build_dir), *gen, "-DCMAKE_BUILD_TYPE=Release", "-DGGML_NATIVE=ON",
              "-DLLAMA_BUILD_SERVER=ON", "-DLLAMA_OPENSSL=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
              "-DLLAMA_BUILD_EXAMPLES=OFF", "-DBUILD_SHARED_LIBS=OFF"], "cmake configure", env)
        _run(["cmake", "--build", str(build_dir), "--target", "llama-server", "-j", str(jobs or os.cpu_count() or 2)],
             "cmake build", env)
        binary = build_dir / "bin" / "llama-server"
        dest.mkdir(parents=True, exist_ok=True)
        tmp_dest = dest / ".llama-server.tmp"
        shutil.copy2(binary, tmp_dest)
        os.replace(tmp_dest, dest / "llama-server")
    log.info("built %s", dest / "llama-server")
    return dest / "llama-server"


def _run(cmd: list[str], what: str, env: dict | None = None) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        tail = "\n".join((res.stderr or res.stdout).strip().splitlines()[-5:])
        raise ServerError(f"{what} failed ({res.returncode}): {tail}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(binary: Path, model: Path, port: int, n_threads: int, n_ctx: int, parallel: int,
                   n_gpu_layers: int = 0, extra: Sequence[str] = ()) -> list[str]:
    """The command line: ``parallel`` slots of ``n_ctx`` tokens each, the model's own chat template (jinja),
    then ``extra`` (batch sizes, speculative decoding)."""
    return [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
            "--parallel", str(parallel), "--ctx-size", str(n_ctx * parallel), "--threads", str(n_threads),
            "--threads-batch", str(n_threads), "--n-gpu-layers", str(n_gpu_layers), "--jinja", "--no-webui",
            *extra]


def _last_error(log_path: Path) -> str:
    """The last line of the server's log that names an error (``: <line>``), or "" when there is none."""
    try:
        lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
    except OSError:
        return ""
    found = [line.strip() for line in lines if "error" in line.lower() or "invalid" in line.lower()]
    return f": {found[-1][:200]}" if found else ""


class LlamaServer:
    """A ``llama-server`` process on a free port of 127.0.0.1; :meth:`stop` ends it (so does garbage)."""

    def __init__(self, model: Path, n_threads: int, n_ctx: int, parallel: int, n_gpu_layers: int = 0,
                 binary: str | None = None, startup_timeout: float = 300.0, extra_args: Sequence[str] = ()):
        self.model, self.n_threads, self.n_ctx, self.parallel = Path(model), n_threads, n_ctx, parallel
        self.n_gpu_layers, self.binary, self.startup_timeout = n_gpu_layers, binary, startup_timeout
        self.extra_args = list(extra_args)
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.log_path = Path(os.environ.get("SYNEG_CACHE_DIR", ".cache/syneg")) / "llama-server.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> "LlamaServer":
        binary = find_binary(self.binary)
        self.port = free_port()
        cmd = server_command(binary, self.model, self.port, self.n_threads, self.n_ctx, self.parallel,
                             self.n_gpu_layers, self.extra_args)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log.info("starting llama-server on port %d (%d slots, %d threads); log: %s", self.port, self.parallel,
                 self.n_threads, self.log_path)
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         preexec_fn=lifetime.set_pdeathsig)  # ends with the stage, even by kill -9
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ServerError(f"llama-server exited with {self.proc.returncode} while starting"
                                  f"{_last_error(self.log_path)}; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise ServerError(f"llama-server did not become healthy within {self.startup_timeout:g} s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def __del__(self) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m syneg.llm.llama_server build``: build llama-server into the cache folder; print its path."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m syneg.llm.llama_server", description=main.__doc__)
    parser.add_argument("command", choices=["build", "where"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        print(build() if args.command == "build" else find_binary(build_if_missing=False))
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
