"""Controls: every measure a verdict reads, proven on inputs whose answer is known, before it judges.

For each artifact the note describes, positive controls carry the artifact at several known doses
and negative controls carry none of it (real digits, harmless changes of them, and the other
claims' artifacts). All are made from real test digits (or, for the pile-up, from weight arrays).
A measure separates its controls when every dose lies beyond every negative; its threshold then
comes from the controls by the rule declared in findings.yaml (findings.controls.threshold_at):

    threshold = strongest negative + threshold_at * (weakest dose - strongest negative)

in the measure's own scale, never from the runs being judged. A measure that does not separate its
controls gives no verdict: its claims are inconclusive, and the measure is to be replaced, not tuned.
Each entry also shows the measure it replaced, on the same controls, and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import ndimage

from ganpipe.measures import metrics
from ganpipe.params import ControlsParams

EMBOSS_KERNEL = np.array([[-1.0, -1.0, 0.0], [-1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])  # light from the top left


def unit(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float32) / 255.0


def uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(np.asarray(x) * 255.0), 0, 255).astype(np.uint8)


def autoscaled(images: np.ndarray) -> np.ndarray:
    """Each image stretched to its own [min, max], as matplotlib's imshow shows an array without
    vmin/vmax (the display of the tutorial the note's network resembles)."""
    x = unit(images)
    lo, hi = x.min(axis=(1, 2), keepdims=True), x.max(axis=(1, 2), keepdims=True)
    return uint8((x - lo) / np.maximum(hi - lo, 1e-6))


def relative_to(measure: Callable[[np.ndarray], float], real: np.ndarray) -> Callable[[np.ndarray], float]:
    """`measure` over its value on the real digits: real digits read 1."""
    reference = measure(real)
    return lambda images: measure(images) / reference


def _per_image(x: np.ndarray, f) -> np.ndarray:
    return np.stack([f(img) for img in x])


def blurred(x: np.ndarray, sigma: float) -> np.ndarray:
    return _per_image(x, lambda i: ndimage.gaussian_filter(i, sigma))


def embossed(x: np.ndarray, strength: float) -> np.ndarray:
    """Relief: mid-grey page, each stroke lit on one side and shaded on the other."""
    return np.clip(0.5 + strength * _per_image(x, lambda i: ndimage.convolve(i, EMBOSS_KERNEL, mode="constant")), 0, 1)


def with_background_noise(x: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Half-normal noise of scale `level` on the background only (pixels < 0.05), the digit untouched."""
    noise = np.abs(rng.normal(0.0, level, x.shape)).astype(np.float32)
    return np.clip(x + noise * (x < 0.05), 0, 1)


def on_grey_page(x: np.ndarray, grey: float) -> np.ndarray:
    """The digit on a page of this grey: the page lifted, the strokes as bright as before."""
    return grey + (1.0 - grey) * x


def shifted(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    return np.roll(np.roll(x, dy, axis=1), dx, axis=2)


def thick(x: np.ndarray) -> np.ndarray:
    return _per_image(x, lambda i: ndimage.grey_dilation(i, size=(2, 2)))


def sharpened(x: np.ndarray) -> np.ndarray:
    return np.clip(x + (x - blurred(x, 1.0)), 0, 1)


def faintest(x: np.ndarray, share: float = 0.1) -> np.ndarray:
    means = x.reshape(len(x), -1).mean(1)
    return x[np.argsort(means, kind="stable")[: max(1, int(len(x) * share))]]


@dataclass(frozen=True)
class Replaced:
    """The measure (or threshold) a claim read before this one, kept to show why it was replaced."""

    measure: str
    value: Callable[[np.ndarray], float]
    direction: int
    why: str
    threshold: float | None = None  # a fixed threshold it used; None: judged by the declared rule


@dataclass(frozen=True)
class Check:
    """One measure on its controls: positives {name: (dose, input)}, negatives {name: input}."""

    measure: str
    claims: tuple[str, ...]
    direction: int  # +1: more of the measure = more artifact; -1: less
    value: Callable[[np.ndarray], float]
    positives: dict
    negatives: dict
    replaced: Replaced | None = None


def separation(pos: list[float], neg: list[float], direction: int, at: float) -> dict:
    """Whether every dose lies beyond every negative, and the threshold the declared rule gives."""
    strongest_neg = max(neg) if direction > 0 else min(neg)
    weakest_dose = min(pos) if direction > 0 else max(pos)
    separates = (weakest_dose > strongest_neg) if direction > 0 else (weakest_dose < strongest_neg)
    return {"strongest_negative": float(strongest_neg), "weakest_dose": float(weakest_dose),
            "threshold": float(strongest_neg + at * (weakest_dose - strongest_neg)), "separates": bool(separates)}


def evaluate(check: Check, at: float) -> dict:
    doses = [{"name": k, "dose": d, "value": check.value(a)} for k, (d, a) in check.positives.items()]
    negatives = [{"name": k, "value": check.value(a)} for k, a in check.negatives.items()]
    out = {"measure": check.measure, "claims": list(check.claims), "direction": check.direction,
           "doses": doses, "negatives": negatives,
           **separation([d["value"] for d in doses], [n["value"] for n in negatives], check.direction, at)}
    old = check.replaced
    if old:
        old_pos = [old.value(a) for _, a in check.positives.values()]
        old_neg = [old.value(a) for a in check.negatives.values()]
        if old.threshold is None:
            separates = separation(old_pos, old_neg, old.direction, at)["separates"]
        else:
            beyond = lambda v: (v >= old.threshold) if old.direction > 0 else (v <= old.threshold)  # noqa: E731
            separates = all(map(beyond, old_pos)) and not any(map(beyond, old_neg))
        out["replaced"] = {"measure": old.measure, "why": old.why, "doses": old_pos, "negatives": old_neg,
                           "threshold": old.threshold, "separates": bool(separates)}
    return out


def image_checks(real: np.ndarray, p: ControlsParams) -> list[Check]:
    """The image measures' controls, from real test digits (uint8 N x 28 x 28)."""
    rng = np.random.default_rng(p.seed)
    x = unit(real[: p.n])
    u = uint8
    black = {f"digits x {s:g}": (s, u(x * s)) for s in p.black_scales}
    black["zeros + faint noise"] = (0.0, u(np.abs(rng.normal(0, 0.02, x.shape))))
    black["all -1 (tanh)"] = (0.0, u(np.zeros_like(x)))
    emboss = {f"emboss {s:g}": (s, u(embossed(x, s))) for s in p.emboss_strengths}
    emboss[f"emboss {p.low_contrast:g}, autoscaled"] = (p.low_contrast, autoscaled(u(embossed(x, p.low_contrast))))
    grey = {f"page grey {g:g}": (g, u(on_grey_page(x, g))) for g in p.grey_pages}
    blur = {f"blur sigma {s:g}": (s, u(blurred(x, s))) for s in p.blur_sigmas}
    blur.update({f"blur sigma {s:g} + noise": (s, u(np.clip(blurred(x, s) + np.abs(rng.normal(0, 0.05, x.shape)), 0, 1)))
                 for s in p.blur_sigmas[1::2]})
    noise = {f"background noise {v:g}": (v, u(with_background_noise(x, v, rng))) for v in p.noise_levels}

    real_u, faint = u(x), u(faintest(x))
    other = {  # each claim's negatives include the other claims' artifacts at a middle dose
        "black": u(x * p.black_scales[0]),
        "embossed": u(embossed(x, p.emboss_strengths[len(p.emboss_strengths) // 2])),
        "blurred": u(blurred(x, p.blur_sigmas[len(p.blur_sigmas) // 2])),
        "background noise": u(with_background_noise(x, p.noise_levels[len(p.noise_levels) // 2], rng)),
    }
    shifts = {"shifted (4, 4)": u(shifted(x, 4, 4)), "shifted (-4, 3)": u(shifted(x, -4, 3))}
    contrast = {"digits x 0.6": u(x * 0.6), "digits x 1.5": u(np.clip(x * 1.5, 0, 1)), "digits ^ 2": u(x ** 2)}
    emboss_index = lambda images: metrics.background_level(images) + metrics.relief_score(images)  # noqa: E731
    relative_high = relative_to(metrics.high_band, real)
    blur_negatives = {"real digits": real_u, "the faintest 10%": faint, **contrast, **shifts,
                      "background noise": other["background noise"], "embossed": other["embossed"]}
    noise_negatives = {"real digits": real_u, "the faintest 10%": faint, **shifts, "thick strokes": u(thick(x)),
                       **{f"blur sigma {s:g}": u(blurred(x, s)) for s in p.blur_sigmas}, "black": other["black"]}
    return [
        Check("peak_brightness", ("F1",), -1, metrics.peak_brightness, black,
              {"real digits": real_u, "the faintest 10%": faint, "digits x 0.5": u(x * 0.5),
               "flat mid-grey": u(np.full_like(x, 0.5))},
              Replaced("blank_fraction", metrics.blank_fraction, +1, "a digit scaled by 0.3 (mean 0.04, max 0.3) is black to the eye, yet "
               "none passes its max < 0.2 / mean < 0.02 / std < 0.02 rule")),
        Check("emboss_score", ("F3b",), +1, metrics.emboss_score, emboss,
              {"real digits": real_u, "grey page, no relief": u(0.5 + 0.5 * x), "blurred": other["blurred"],
               "sharpened": u(sharpened(x)), "inverted": u(1 - x), "black": other["black"],
               "background noise": other["background noise"]},
              Replaced("background_level + relief_score", emboss_index, +1,
               "a grey page without relief scores as high as a strong emboss (the grey level is not relief), "
               "and relief_score alone calls background noise relief")),
        Check("grey_page", ("F3b",), +1, metrics.grey_page, grey,
              {"real digits": real_u, "the faintest 10%": faint, "thick strokes": u(thick(x)),
               "blurred": other["blurred"], "black": other["black"],
               **{f"background noise {v:g}": u(with_background_noise(x, v, rng)) for v in p.noise_levels}},
              Replaced("background_level", metrics.background_level, +1,
               "the median pixel of a black page under strong noise is as grey as a grey page: half of a page's "
               "pixels carry the noise")),
        Check("edge_sharpness", ("F4b",), -1, metrics.edge_sharpness, blur, blur_negatives,
              Replaced("midgrey_share", metrics.midgrey_share, +1,
               "a change of contrast (digits x 0.6) turns the stroke's core mid-grey and reads as blur; "
               "gradient energy over intensity energy (no variance) called an embossed digit blurred")),
        Check("background_noise", ("F4", "F4c"), +1, metrics.background_noise, noise, noise_negatives,
              Replaced("peripheral_energy", metrics.peripheral_energy, +1,
               "a digit shifted by 4 pixels puts ink in the fixed 4-pixel border ring and reads as noise")),
        # the high band's share against the real digits' (1: as real digits), on the blur and the noise
        # controls of the two measures above: what the heads' spectra over training can be read for
        Check("high_band_deficit", ("F4b",), -1, relative_high, blur, blur_negatives),
        Check("high_band_excess", ("F4", "F4c"), +1, relative_high, noise, noise_negatives),
    ]


def pileup_check(p: ControlsParams) -> Check:
    """Critic weights: clipped from normal distributions of growing width (the pile-up at +-c grows),
    against weights well inside +-c and weights spread evenly over [-c, c]."""
    rng = np.random.default_rng(p.seed)
    c, n = 1.0, 20_000  # the share is scale-free: weights in units of c

    def clipped(width: float) -> np.ndarray:
        return np.clip(rng.normal(0, width * c, n), -c, c)

    share = lambda w: metrics.boundary_share(w, c)  # noqa: E731
    return Check("boundary_share", ("F3",), +1, share,
                 {f"N(0, ({w:g} c)^2) clipped": (w, clipped(w)) for w in p.pileup_widths},
                 {f"N(0, ({w:g} c)^2), well inside": clipped(w) for w in (0.1, 0.25)}
                 | {"uniform on [-c, c]": rng.uniform(-c, c, n)},
                 Replaced("boundary_share >= 0.5", share, +1, "the old threshold asked half of all weights at +-c, a "
                          "number from no control (the share itself separates)", threshold=0.5))


def run_controls(real: np.ndarray, p: ControlsParams) -> dict[str, dict]:
    """Every measure on its controls: values, separation and the threshold, by measure name."""
    checks = image_checks(real, p) + [pileup_check(p)]
    out = {c.measure: evaluate(c, p.threshold_at) for c in checks}
    black = out["peak_brightness"]  # F1 counts images: show the share each control would give
    check = checks[0]
    for row, (_, images) in zip(black["doses"], check.positives.values()):
        row["black_fraction"] = metrics.black_fraction(images, black["threshold"])
    for row, images in zip(black["negatives"], check.negatives.values()):
        row["black_fraction"] = metrics.black_fraction(images, black["threshold"])
    return out


def strip(real: np.ndarray, p: ControlsParams, index: int = 0) -> dict[str, list[tuple[str, np.ndarray, bool]]]:
    """One digit under every control, by measure, as (name, image, positive): the report's control strip."""
    checks = image_checks(real, p)
    drawn: list[dict] = []  # the high band's checks reuse the blur and noise controls: each set drawn once
    out = {}
    for c in checks:
        if any(c.positives is positives for positives in drawn):
            continue
        drawn.append(c.positives)
        out[c.measure] = ([(k, a[index], True) for k, (_, a) in c.positives.items()]
                          + [(k, a[min(index, len(a) - 1)], False) for k, a in c.negatives.items()])
    return out
