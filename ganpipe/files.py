"""Atomic output files, and reading image sets in the formats users bring (.npz, PNG folder, IDX).

Every output is written to a temporary file beside its target and renamed into place, so an
interrupted stage never leaves a file that looks complete.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np


class InputError(ValueError):
    """Unreadable or malformed input: the message names the file and what was expected."""


@contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(target: str | Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: str | Path, text: str) -> None:
    write_bytes(target, text.encode())


def write_json(target: str | Path, obj: object) -> None:
    write_text(target, json.dumps(obj, indent=2, sort_keys=True, allow_nan=True) + "\n")


def write_npz(target: str | Path, **arrays: np.ndarray) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    write_bytes(target, buf.getvalue())


def save_torch(target: str | Path, obj: object) -> None:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    write_bytes(target, buf.getvalue())


def load_torch(path: str | Path) -> object:
    """Load a state dict or checkpoint with weights_only=True: pickled code is refused."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except pickle.UnpicklingError as exc:
        # torch's message goes on to suggest weights_only=False, the one thing not to do with such a
        # file; keep only its reason (e.g. "Trying to load unsupported GLOBAL posix.system ...")
        reason = [part.strip() for part in str(exc).split("\n\n")[1:-1] if part.strip()]
        raise InputError(f"{path}: refused by the safe loader: not a plain weights file "
                         f"({reason[0][:150] if reason else 'unsupported content'}); it is corrupt or holds "
                         "pickled objects that could run code, and none was run") from None
    except Exception as exc:  # torch raises RuntimeError, EOFError, KeyError ... for other bad files
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise InputError(f"{path}: not a loadable weights file ({type(exc).__name__}: {first[:200]})") from None


def load_npz(path: str | Path, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    if Path(path).is_file() and not zipfile.is_zipfile(path):
        # np.load takes any other bytes for a pickle and says so, which misleads about a truncated file
        raise InputError(f"{path}: not a readable .npz file (not a complete zip archive: truncated or another format)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except Exception as exc:
        raise InputError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc})") from None
    missing = [k for k in required if k not in arrays]
    if missing:
        raise InputError(f"{path}: missing array(s) {missing}; it has {sorted(arrays)}")
    return arrays


def as_digit_images(images: np.ndarray, where: str) -> np.ndarray:
    """Check and normalise to uint8 N x 28 x 28. Floats in [-1, 1] or [0, 1] are rescaled."""
    a = np.asarray(images)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim == 2 and a.shape[1] == 784:
        a = a.reshape(-1, 28, 28)
    if a.ndim != 3 or a.shape[1:] != (28, 28):
        raise InputError(f"{where}: expected 28x28 grey images (N x 28 x 28), got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise InputError(f"{where}: images contain NaN or infinite values")
    lo, hi = float(a.min()), float(a.max())
    if lo >= -1.0001 and hi <= 1.0001 and lo < 0:
        a = (a + 1) * 127.5
    elif lo >= 0 and hi <= 1.0001:
        a = a * 255
    elif lo < 0 or hi > 255.5:
        raise InputError(f"{where}: pixel values span [{lo:.3g}, {hi:.3g}]; allowed: uint8, [0, 255], [0, 1] or [-1, 1]")
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def read_png_folder(folder: Path) -> np.ndarray:
    from PIL import Image

    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not paths:
        raise InputError(f"{folder}: no .png files in this folder")
    out = []
    for p in paths:
        try:
            with Image.open(p) as im:
                im = im.convert("L")
                if im.size != (28, 28):
                    raise InputError(f"{p}: image is {im.size[0]}x{im.size[1]}, expected 28x28 grey")
                out.append(np.asarray(im, dtype=np.uint8))
        except InputError:
            raise
        except Exception as exc:
            raise InputError(f"{p}: not a readable PNG ({exc})") from None
    return np.stack(out)


def read_image_set(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (uint8 N x 28 x 28) and labels if the set carries them, from .npz, a PNG folder or IDX."""
    from ganpipe.data import find_idx_labels, read_idx

    path = Path(path)
    if path.is_dir():
        return read_png_folder(path), None
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.suffix == ".npz":
        arrays = load_npz(path, required=("images",))
        labels = arrays.get("labels")
        return as_digit_images(arrays["images"], str(path)), labels
    images = read_idx(path)
    labels_path = find_idx_labels(path)
    labels = read_idx(labels_path) if labels_path else None
    if labels is not None and len(labels) != len(images):
        raise InputError(f"{labels_path}: {len(labels)} labels for {len(images)} images in {path}")
    return as_digit_images(images, str(path)), labels
