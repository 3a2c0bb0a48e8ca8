"""The report's prose, kept in prose.md beside this module: an instructor edits the words there,
and the report fills in the numbers (`say("models", n=1000)`)."""

from __future__ import annotations

import functools
import re
from pathlib import Path

PROSE = Path(__file__).with_name("prose.md")


@functools.cache
def blocks() -> dict[str, str]:
    """Each named block of prose.md as one paragraph: its lines joined with a space."""
    parts = re.split(r"^<!-- (\w+) -->$", PROSE.read_text(), flags=re.M)
    return {name: " ".join(line.strip() for line in body.strip().splitlines())
            for name, body in zip(parts[1::2], parts[2::2])}


# the words for the models table's columns and for the measures the knobs section reads
COLUMN_MEANS = {
    "fid": "Frechet distance between the samples' and the real digits' classifier features (lower is closer)",
    "precision": "share of samples that fall inside the real digits' feature neighbourhoods (realism)",
    "recall": "share of real digits that fall inside the samples' neighbourhoods (variety)",
    "density": "how many real neighbourhoods each sample falls in, on average (1 for real data)",
    "coverage": "share of real digits with a sample inside their neighbourhood",
    "modes": "digit classes the classifier finds among the samples (of 10)",
    "confidence": "the classifier's mean top-class probability on the samples",
    "brightness": "mean pixel value in [0, 1] (real digits about 0.13; collapsed GANs near 0)",
    "peak_brightness": "mean of each sample's brightest pixel (a black image has none)",
    "background_noise": "grey energy away from the digit's strokes (F4's noise around the digit; real digits 0)",
    "edge_sharpness": "how steep the strokes' edges are (F4b's blur lowers it)",
    "grey_page": "how grey the page is: its darker quarter's level (real digits 0; F3b's grey page is high)",
    "emboss_score": "paired light and dark edges of a relief (F3b's embossing)",
}

MEASURE_WORDS = {"boundary_share": "share of the critic's weights within 1% of +-clip",
                 "emboss_score": "emboss score", "background_noise": "background noise",
                 "edge_sharpness": "edge sharpness"}


def say(name: str, **values) -> str:
    """Block `name` with its {placeholders} filled."""
    return blocks()[name].format(**values)
