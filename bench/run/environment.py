"""Facts about the machine and libraries that every run record carries."""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import logging
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

from bench.errors import UsageError, excerpt

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}


def configure_runtime(keras_backend: str, device: str, *, verbose: bool = False) -> None:
    """Set the Keras backend and visible devices, then load TensorFlow's native libraries with their start-up lines
    (CUDA driver, CPU features) held back unless `verbose`. Must happen before anything imports Keras."""
    if keras_backend not in KERAS_BACKENDS:
        raise UsageError(f"--keras-backend must be one of {', '.join(KERAS_BACKENDS)}, but got {excerpt(keras_backend)}")
    if importlib.util.find_spec(keras_backend) is None:
        extra = {"jax": ' (pip install -e ".[jax]")', "torch": " (the CPU build: pip install torch --index-url "
                 "https://download.pytorch.org/whl/cpu)"}.get(keras_backend, "")
        raise UsageError(f"--keras-backend {keras_backend}: the package '{keras_backend}' is not installed; install it{extra}")
    if "keras" in sys.modules and os.environ.get("KERAS_BACKEND", "tensorflow") != keras_backend:
        raise UsageError(f"Keras is already loaded with backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}; start a new process")
    os.environ["KERAS_BACKEND"] = keras_backend
    if verbose:
        from bench import USER_TF_LOG_LEVEL

        os.environ["TF_CPP_MIN_LOG_LEVEL"] = USER_TF_LOG_LEVEL or "0"
    else:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notices are not the user's business
    if device == "cpu":
        os.environ["CUDA_VISIBLE_DEVICES"] = "-1"
        os.environ["JAX_PLATFORMS"] = "cpu"
    elif device.startswith("gpu:") and device[4:].isdigit():
        os.environ["CUDA_VISIBLE_DEVICES"] = device[4:]
    else:
        raise UsageError(f"--device must be 'cpu' or 'gpu:N' (N a GPU index), but got {excerpt(device)}")
    # Keras imports TensorFlow whenever it is installed, whatever its backend (`keras.utils.set_random_seed` seeds it too):
    # load it now, while what its C++ start-up writes to the terminal can still be held back.
    if "tensorflow" not in sys.modules and importlib.util.find_spec("tensorflow") is not None:
        with native_stderr(shown=verbose):
            import tensorflow  # noqa: F401


@contextlib.contextmanager
def native_stderr(*, shown: bool) -> Iterator[None]:
    """Hold back what native code writes to file descriptor 2 inside the block (TensorFlow's absl and CUDA lines bypass
    Python's logging and TF_CPP_MIN_LOG_LEVEL); when `shown`, or when the block raises, it is written out afterwards."""
    if shown:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        failed = True
        try:
            yield
            failed = False
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            if failed:
                sink.seek(0)
                sys.stderr.write(sink.read().decode(errors="replace"))


def keras_backend_in_use(wanted: str) -> str:
    """The backend Keras itself reports; a run never records one it did not train on."""
    import keras

    actual = keras.backend.backend()
    if actual != wanted:
        raise UsageError(f"--keras-backend {wanted}: Keras runs on {actual} in this process (KERAS_BACKEND or ~/.keras/keras.json "
                         "was read before tunebench set it); start a new process")
    return actual


def accelerator_names(keras_backend: str) -> list[str]:
    """The accelerators the Keras backend actually sees (empty on CPU)."""
    if keras_backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_physical_devices("GPU")]
    if keras_backend == "jax":
        import jax

        return [str(d) for d in jax.devices() if d.platform != "cpu"]
    import torch

    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def library_versions(packages: tuple[str, ...]) -> dict[str, str]:
    """Installed versions of `packages` (those not installed are left out)."""
    return {name: version for name in packages if (version := _installed_version(name)) is not None}


@functools.lru_cache(maxsize=None)
def _installed_version(name: str) -> str | None:
    """Read once per process: parsing a package's metadata costs ~2 ms, and what is installed does not change mid-run."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache  # a fact of this process's machine and checkout: read once
def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@functools.cache  # a fact of this process's machine and checkout: read once
def gpu_names() -> list[str]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


@functools.cache  # a fact of this process's machine and checkout: read once
def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False)
        if out.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10, check=False)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def process_started_at() -> float:
    """When this process started (epoch seconds, as the kernel recorded it)."""
    import psutil

    return psutil.Process().create_time()


def machine_facts() -> dict[str, object]:
    import os

    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpus": gpu_names(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "hostname": platform.node(),
    }


def process_alive(pid: object) -> bool:
    """Whether process `pid` runs on this machine (not this process, not a zombie)."""
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is not running
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True
