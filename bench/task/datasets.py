"""Image datasets for the CNN task, with a fixed test split and a seeded, stratified validation split."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.errors import UsageError, excerpt
from bench.task.base import Splits

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


RawSplits = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def read_idx(path: Path) -> np.ndarray:
    """Read one MNIST-format IDX file (optionally gzip-compressed)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UsageError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise UsageError(f"{path}: IDX header says {shape} but the file holds {body.size} values (truncated?)")
    return body.reshape(shape)


def load_idx_folder(folder: Path) -> RawSplits:
    """The four MNIST-format files (plain or .gz) from `folder`."""
    arrays = {}
    for key, stem in _IDX_FILES.items():
        candidates = [folder / stem, folder / f"{stem}.gz"]
        found = next((p for p in candidates if p.exists()), None)
        if found is None:
            raise UsageError(
                f"{folder}: missing {stem}[.gz]; a --data-dir needs the four MNIST-format IDX files "
                f"({', '.join(_IDX_FILES.values())})"
            )
        arrays[key] = read_idx(found)
    return arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]


def _digits() -> tuple[RawSplits, str]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = (bunch.images / 16.0 * 255.0).astype(np.uint8)
    # scikit-learn ships no test split: carve a fixed, stratified one (seed 0, never the run seed).
    x_tr, x_te, y_tr, y_te = train_test_split(images, bunch.target, test_size=0.2, stratify=bunch.target, random_state=0)
    return (x_tr, y_tr, x_te, y_te), "sklearn.datasets.load_digits (8x8), fixed stratified 20% test split"


def _keras_download(name: str) -> Callable[[], tuple[RawSplits, str]]:
    def load() -> tuple[RawSplits, str]:
        import keras

        loader = getattr(keras.datasets, name)
        try:
            (x_tr, y_tr), (x_te, y_te) = loader.load_data()
        except Exception as exc:  # noqa: BLE001 - any download failure means the same thing to the user
            raise UsageError(
                f"dataset '{name}' is not cached under ~/.keras/datasets and could not be downloaded "
                f"({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__}); run once on a machine with internet, or pass --data-dir with its IDX files"
                + ("; on Debian: apt-get install dataset-fashion-mnist" if name == "fashion_mnist" else "")
            ) from None
        return (x_tr, y_tr, x_te, y_te), f"keras.datasets.{name}.load_data()"

    return load


def _fashion_mnist() -> tuple[RawSplits, str]:
    if DEBIAN_FASHION_MNIST.is_dir():
        return load_idx_folder(DEBIAN_FASHION_MNIST), f"IDX files in {DEBIAN_FASHION_MNIST} (Debian dataset-fashion-mnist)"
    return _keras_download("fashion_mnist")()


LOADERS: dict[str, Callable[[], tuple[RawSplits, str]]] = {
    "digits": _digits,
    "mnist": _keras_download("mnist"),
    "fashion_mnist": _fashion_mnist,
}
DATASET_HELP = {
    "digits": "scikit-learn's bundled 8x8 handwritten digits (1,797 images; offline default)",
    "mnist": "MNIST 28x28 via keras.datasets (downloaded and cached; needs internet once)",
    "fashion_mnist": f"Fashion-MNIST 28x28 ({DEBIAN_FASHION_MNIST} if present, else keras.datasets)",
    "idx": "any MNIST-format IDX files in --data-dir",
}


def _stratified_take(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    if n >= len(y):
        return x, y
    x_take, _, y_take, _ = train_test_split(x, y, train_size=n, stratify=y, random_state=seed)
    return x_take, y_take


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    train_subset: int | None = None,
    val_fraction: float = 0.1,
    split_seed: int = 0,
) -> Splits:
    """Load `name`, carve a stratified validation split from its training set, scale to [0, 1]."""
    from sklearn.model_selection import train_test_split

    if data_dir is not None:
        folder = Path(data_dir)
        try:
            is_folder = folder.is_dir()
        except OSError:  # e.g. a name too long for the file system
            is_folder = False
        if not is_folder:
            raise UsageError(f"--data-dir {excerpt(str(folder), 120)}: no such folder")
        (x_tr, y_tr, x_te, y_te), source = load_idx_folder(folder), f"IDX files in {folder}"
    elif name in LOADERS:
        (x_tr, y_tr, x_te, y_te), source = LOADERS[name]()
    elif name == "idx":
        raise UsageError("dataset 'idx' needs --data-dir FOLDER holding MNIST-format IDX files")
    else:
        raise UsageError(f"unknown dataset {excerpt(name)}; known: {', '.join(DATASET_HELP)}")
    if not 0.0 < val_fraction < 1.0:
        raise UsageError(f"validation fraction must lie in (0, 1), but got {val_fraction}")
    if train_subset is not None:
        if train_subset < 20:
            raise UsageError(f"--train-subset must be at least 20, but got {train_subset}")
        x_tr, y_tr = _stratified_take(x_tr, y_tr, train_subset, split_seed)
    x_fit, x_val, y_fit, y_val = train_test_split(x_tr, y_tr, test_size=val_fraction, stratify=y_tr, random_state=split_seed)

    def prep(x: np.ndarray) -> np.ndarray:
        x = x.astype("float32") / 255.0
        return x[..., None] if x.ndim == 3 else x

    classes = int(max(y_tr.max(), y_te.max()) + 1)
    return Splits(
        prep(x_fit), y_fit.astype("int64"), prep(x_val), y_val.astype("int64"), prep(x_te), y_te.astype("int64"),
        name=name if data_dir is None else f"idx:{Path(data_dir).name}",
        source=source,
        facts={"num_classes": classes, "val_fraction": val_fraction, "split_seed": split_seed, "train_subset": train_subset},
    )
