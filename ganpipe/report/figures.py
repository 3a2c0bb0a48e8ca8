"""Figures for the report: image grids and a collector of PNGs (seaborn/matplotlib, Agg), so the
report renders offline, with no chart library from the web."""

from __future__ import annotations

import io
import math

import numpy as np


def tile(images: np.ndarray, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """uint8 N x 28 x 28 -> one uint8 grid image (white padding)."""
    n = len(images)
    rows = math.ceil(n / nrow)
    h, w = images.shape[1:]
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = im
    return grid


def png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def grids_figure(panels: dict[str, np.ndarray], ncols: int | None = None, size: float = 2.4):
    """One grid of samples per panel, at a fixed range [0, 255]; room above each for its title."""
    import matplotlib.pyplot as plt

    ncols = ncols or len(panels)
    nrows = math.ceil(len(panels) / ncols)
    title_lines = max(title.count("\n") + 1 for title in panels)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, (size + 0.15 * max(title_lines - 2, 0)) * nrows + 0.3),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, images) in zip(axes.flat, panels.items()):
        ax.imshow(tile(images, nrow=int(math.sqrt(len(images)))), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
    return fig


class Figures:
    """Collects figures as (file name, PNG bytes); written next to report.md."""

    def __init__(self):
        self.files: dict[str, bytes] = {}

    def add(self, name: str, fig) -> str:
        self.files[name] = png(fig)
        return f"figures/{name}"


def control_strip_figure(strip: dict):
    """One real digit under every control, a row per measure: positives (red, +) then negatives (grey, -)."""
    import textwrap

    import matplotlib.pyplot as plt

    width = max(len(v) for v in strip.values())
    fig, axes = plt.subplots(len(strip), width, figsize=(1.1 * width, 1.7 * len(strip)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for row, (measure, items) in zip(axes, strip.items()):
        for ax, (name, image, positive) in zip(row, items):
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            ax.set_title(textwrap.fill(("+ " if positive else "- ") + name.replace("_", " "), 14), fontsize=6,
                         color="#b2182b" if positive else "#4d4d4d", fontweight="bold" if positive else "normal")
        row[0].text(-0.5, 0.5, measure, transform=row[0].transAxes, ha="right", va="center", fontsize=7)
    return fig


def fid_curves_figure(curves: dict):
    """The trained rule's runs of known state: FID over steps (log scale), the tenth-budget runs dashed."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    for name, curve in curves.items():
        ax.plot(curve["step"], curve["fid"], "o-" if "tenth" not in name else "s--", ms=3, lw=1, label=name)
    ax.set_xscale("log"), ax.set_xlabel("step"), ax.set_ylabel("FID"), ax.legend(fontsize=6)
    return fig
