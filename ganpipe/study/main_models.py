"""The main GAN and WGAN in the note's terms: the claims' measures on the models a user's knobs
train, against the claims' thresholds, so that `dvc exp run -S wgan.clip=1.0` shows what the clip
did (the critic's weights at the clip, relief, noise around the digit) and `dvc exp show` has the
numbers as columns.

One run at one seed under the user's knobs: a reading, never a verdict. The claims' verdicts come
from their own experiments (findings.experiments), which these knobs do not touch; nor does the
trained rule, calibrated on experiments of its own.
"""

from __future__ import annotations

from pathlib import Path

from ganpipe.measures import metrics
from ganpipe.running.files import load_npz, load_torch

# measure -> (claim, what the artifact is called, what its absence is called)
READINGS = {
    "boundary_share": ("F3", "the weights pile up at the clip", "no pile-up"),
    "emboss_score": ("F3b", "embossed", "no relief"),
    "background_noise": ("F4", "noise around the digit", "clean around the digit"),
    "edge_sharpness": ("F4b", "blurred", "sharp edges"),
}


def reading(measure: str, value: float, control: dict) -> dict:
    """One measure against its controls' threshold, in the direction its artifact goes."""
    claim, artifact, absent = READINGS[measure]
    threshold, higher = control["threshold"], control["direction"] > 0
    shows = value >= threshold if higher else value <= threshold
    return {"value": value, "threshold": threshold, "claim": claim, "shows": bool(shows),
            "words": artifact if shows else absent}


def read_main_models(params, stages: Path, controls: dict) -> dict:
    """{"wgan": {knobs, measure: reading}, "gan": {...}}: the main models' samples and the WGAN
    critic's weights measured as the claims measure their runs."""
    wgan_images = load_npz(stages / "wgan" / "samples.npz", required=("images",))["images"]
    gan_images = load_npz(stages / "gan" / "samples.npz", required=("images",))["images"]
    w = params.wgan
    wgan = {"knobs": {"clip": w.clip if w.constraint == "clip" else None, "constraint": w.constraint,
                      "lr": w.lr, "n_critic": w.n_critic, "steps": w.steps}}
    if w.constraint == "clip":
        share = metrics.weight_histogram(load_torch(stages / "wgan" / "critic.pt"), w.clip)["boundary_share"]
        wgan["boundary_share"] = reading("boundary_share", share, controls["boundary_share"])
    wgan["emboss_score"] = reading("emboss_score", metrics.emboss_score(wgan_images), controls["emboss_score"])
    wgan["background_noise"] = reading("background_noise", metrics.background_noise(wgan_images),
                                       controls["background_noise"])
    gan = {"knobs": {"generator": params.gan.generator, "steps": params.gan.steps},
           "background_noise": reading("background_noise", metrics.background_noise(gan_images),
                                       controls["background_noise"]),
           "edge_sharpness": reading("edge_sharpness", metrics.edge_sharpness(gan_images), controls["edge_sharpness"])}
    return {"wgan": wgan, "gan": gan}


def headline(main: dict) -> dict:
    """The numbers `dvc exp show` puts beside the knobs (stages/findings/main_models.json)."""
    return {model: {m: r["value"] for m, r in readings.items() if m != "knobs"} for model, readings in main.items()}
