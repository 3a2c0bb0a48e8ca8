"""Image sets in and out: the IDX reader, .npz / PNG folder / IDX image sets, the conversions
between uint8 digits and model tensors, and PNG grids of samples.

Digits on disk are uint8 N x 28 x 28; models see float tensors N x 1 x 28 x 28 in [-1, 1].
"""

from __future__ import annotations

import gzip
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ganpipe.running.files import InputError, load_npz

if TYPE_CHECKING:
    import torch

IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (plain or .gz). Bad magic, dimensions or length raise `InputError` naming it."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except (OSError, EOFError) as exc:
        raise InputError(f"{path}: cannot decompress ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in IDX_DTYPES:
        raise InputError(f"{path}: bad IDX magic number {raw[:4].hex() or '(empty file)'}; expected 0000 08xx")
    ndim = raw[3]
    if not 1 <= ndim <= 4 or len(raw) < 4 + 4 * ndim:
        raise InputError(f"{path}: bad IDX header ({ndim} dimensions)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(IDX_DTYPES[raw[2]])
    expected = math.prod(shape) * dtype.itemsize  # exact integers: a garbage header cannot overflow
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise InputError(
            f"{path}: IDX body has {len(body)} bytes, header {shape} needs {expected} (truncated or corrupt)"
        )
    return np.frombuffer(body, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def find_idx_labels(images_path: Path) -> Path | None:
    """The labels file that sits beside an IDX images file, if any (t10k-images -> t10k-labels)."""
    name = images_path.name
    if "images-idx3" not in name:
        return None
    candidate = images_path.with_name(name.replace("images-idx3", "labels-idx1"))
    return candidate if candidate.exists() else None


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


def to_tensor(images: np.ndarray):
    """uint8 N x 28 x 28 -> float32 tensor N x 1 x 28 x 28 in [-1, 1]."""
    import torch

    return torch.from_numpy(images).float().div_(127.5).sub_(1.0).unsqueeze(1)


def to_uint8(x) -> np.ndarray:
    """Model output in [-1, 1] (tensor N x 1 x 28 x 28) -> uint8 N x 28 x 28."""
    import torch

    return ((x.detach().clamp(-1, 1).squeeze(1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def grid_png(images: torch.Tensor, nrow: int = 8) -> bytes:
    """Images in [-1, 1] (N x 1 x 28 x 28) as one PNG grid, nrow per row, on a white frame."""
    from PIL import Image
    from torchvision.utils import make_grid

    grid = make_grid(images.clamp(-1, 1), nrow=nrow, normalize=True, value_range=(-1, 1), padding=2, pad_value=1)
    buf = io.BytesIO()
    Image.fromarray(grid[0].mul(255).round().byte().numpy(), mode="L").save(buf, format="PNG")
    return buf.getvalue()
