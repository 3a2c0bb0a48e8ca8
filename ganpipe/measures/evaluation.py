"""Scoring image sets against a real reference with the feature classifier (used by `evaluate`,
`findings` and `score`). The real set is embedded once; every generated set is compared at the
same n, because FID and the k-NN measures depend on n."""

from __future__ import annotations

import numpy as np

from ganpipe.measures import metrics
from ganpipe.measures.digit_cnn import FeatureClassifier


class Reference:
    """Real images embedded once; `score` compares any image set of the same size against them."""

    def __init__(self, classifier: FeatureClassifier, images: np.ndarray, k: int = 5):
        self.classifier, self.k, self.n = classifier, k, len(images)
        self.features, self.probs = classifier.embed(images)

    def score(self, images: np.ndarray, labels: np.ndarray | None = None) -> dict[str, float]:
        if len(images) != self.n:
            raise ValueError(f"compare at equal n: {len(images)} images against a reference of {self.n}")
        features, probs = self.classifier.embed(images)
        out = metrics.summarize(self.features, self.probs, features, probs, images, self.k)
        if labels is not None:
            out["accuracy"] = float((probs.argmax(1) == np.asarray(labels).astype(int)).mean())
        return out


def read_reference(path) -> np.ndarray:
    """Real images to score against. A prepared mnist.npz (`ganpipe prepare`'s, with its split)
    gives its test split: its first images are training digits, which a model has seen."""
    from ganpipe.data.images import read_image_set
    from ganpipe.data.mnist import load_split
    from ganpipe.running.files import load_npz

    if str(path).endswith(".npz") and "is_test" in load_npz(path):
        return load_split(path, "test").images
    return read_image_set(path)[0]


def equal_n(*sizes: int) -> int:
    """The largest n every set can supply."""
    return int(min(sizes))
