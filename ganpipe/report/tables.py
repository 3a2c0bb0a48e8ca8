"""Markdown tables, the number format every table of the report uses, and how a count of seeds is
shown: k/n with the 95% interval of the share it estimates."""

from __future__ import annotations

import numpy as np


def fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"
    return str(v)


def value(v) -> str:
    """A cell for a value that may be a table of its own (dicts and lists flattened)."""
    if isinstance(v, dict):
        return "; ".join(f"{k}: {value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return fmt(v)


def clauses(parts: list[str]) -> str:
    """Clauses joined into one sentence: semicolons between them, a capital and a full stop."""
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def share_interval(k_of_n: str, z: float = 1.96) -> tuple[float, float]:
    """The 95% Wilson score interval of the share of seeds at which a claim holds, from "k/n".
    Wilson's, not the normal approximation: it stays inside [0, 1] and keeps its coverage at the
    few seeds a study can afford, where k/n alone says 0 or 1 with no doubt at all."""
    k, n = (int(x) for x in k_of_n.split("/"))
    if n < 1 or not 0 <= k <= n:
        raise ValueError(f"holds_in {k_of_n!r}: need k/n with 0 <= k <= n and n >= 1")
    p, z2 = k / n, z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def with_spread(k_of_n: str) -> str:
    """'1/3 (6-79%)': k/n with the 95% interval of the share it estimates."""
    lo, hi = share_interval(k_of_n)
    return f"{k_of_n} ({lo:.0%}-{hi:.0%})".replace("%-", "-")
