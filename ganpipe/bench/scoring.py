"""Evaluate-style scoring for `ganpipe bench`: embed a reference and score a set against it."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def tile_to(images: np.ndarray, n: int) -> np.ndarray:
    """Exactly n images, repeating the set when it is smaller. Each repeat is shifted by one more
    pixel, because exact duplicates would sit at distance 0 from each other and skew the k-NN balls."""
    copies = [np.roll(images, shift, axis=2) for shift in range(-(-n // len(images)))]
    return np.concatenate(copies)[:n]


def time_scoring(images: np.ndarray, n: int, classifier: Path | None, k: int = 5) -> dict:
    """Seconds to embed a reference of n real digits and to score n other images against it,
    as `evaluate` does per model. The scored set is the reference mirrored left-right: as many
    images, not the same ones. Speed does not depend on the weights, so a fresh DigitCNN serves
    when no trained classifier is given."""
    from ganpipe.measures.digit_cnn import DigitCNN, FeatureClassifier, load_classifier
    from ganpipe.measures.evaluation import Reference

    clf = load_classifier(classifier) if classifier else FeatureClassifier(DigitCNN())
    real = tile_to(images, n)
    fake = np.ascontiguousarray(real[:, :, ::-1])
    start = time.perf_counter()
    reference = Reference(clf, real, k=k)
    embedded = time.perf_counter()
    scores = reference.score(fake)
    done = time.perf_counter()
    return {
        "n": n,
        "classifier": str(classifier) if classifier else "untrained DigitCNN",
        "embed_reference_s": embedded - start,
        "score_s": done - embedded,
        "total_s": done - start,
        "fid": scores["fid"],  # not a benchmark number: shows the scoring ran to the end
    }
