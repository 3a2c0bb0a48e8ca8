"""Atomic output files, and the loaders of what they hold (.npz with its required keys, torch state
dicts), each failing with one line that names the file (image sets users bring: ganpipe.data.images).

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
