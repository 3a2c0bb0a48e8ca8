"""The feature classifier: a small CNN whose penultimate layer is the feature space of FID,
precision/recall, density/coverage, and whose softmax gives mode coverage and confidence.

Inception weights cannot be downloaded here and fit 28 x 28 digits poorly; a CNN trained on the
train split is the usual FID-for-MNIST substitute. Load it from Python with `load_classifier`:

    from ganpipe.measures.digit_cnn import load_classifier
    clf = load_classifier("stages/classifier/classifier.pt")
    feats, probs = clf.embed(images_uint8)   # N x 128 features, N x 10 class probabilities
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganpipe.data.images import to_tensor
from ganpipe.running.files import InputError, load_torch
from ganpipe.running.runtime import one_thread

FEATURES = 128


class DigitCNN(nn.Module):
    def __init__(self):
        super().__init__()

        def block(a, b):
            return [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]

        self.body = nn.Sequential(
            *block(1, 32), *block(32, 32), nn.MaxPool2d(2),  # 14 x 14
            *block(32, 64), *block(64, 64), nn.MaxPool2d(2),  # 7 x 7
            nn.Flatten(), nn.Dropout(0.3), nn.Linear(64 * 7 * 7, FEATURES, bias=False), nn.BatchNorm1d(FEATURES), nn.ReLU(),
        )
        self.head = nn.Sequential(nn.Dropout(0.3), nn.Linear(FEATURES, 10))
        self.to(memory_format=torch.channels_last)  # oneDNN's faster CPU layout: ~15% per training step

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))

    def features(self, x: Tensor) -> Tensor:
        return self.body(x.contiguous(memory_format=torch.channels_last))


def random_affine(x: Tensor, generator: torch.Generator) -> Tensor:
    """Per-image random rotation (+-12 deg), scale (0.9-1.1) and shift (+-2 px), batched on tensors."""
    n = len(x)
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(12)
    scale = 0.9 + torch.rand(n, generator=generator) * 0.2
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 / 14)  # 2 px in [-1, 1] coordinates
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # background is -1 in our scaling: shift to 0-background for zero padding, then back
    return F.grid_sample(x + 1, grid, align_corners=False, padding_mode="zeros") - 1


def train_classifier(images: np.ndarray, labels: np.ndarray, *, epochs: int, batch_size: int, lr: float,
                     augment: bool, seed: int, on_epoch=None) -> DigitCNN:
    """Adam with a one-cycle schedule over `epochs` passes of seeded batches."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    x, y = to_tensor(images), torch.from_numpy(labels.astype(np.int64))
    net = DigitCNN()
    opt = torch.optim.Adam(net.parameters(), lr=lr, fused=True)
    steps_per_epoch = len(x) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * steps_per_epoch)
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(len(x), generator=g)
        total = torch.zeros(())
        for i in range(steps_per_epoch):
            idx = order[i * batch_size : (i + 1) * batch_size]
            xb = random_affine(x[idx], g) if augment else x[idx]
            loss = F.cross_entropy(net(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.detach()
        if on_epoch:
            on_epoch(epoch + 1, (total / steps_per_epoch).item())
    return net.eval()


class FeatureClassifier:
    """A trained DigitCNN in eval mode, with batched helpers on uint8 images."""

    def __init__(self, net: DigitCNN, batch_size: int = 1000):
        self.net, self.batch_size = net.eval(), batch_size

    @torch.no_grad()
    def embed(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Penultimate features (N x 128, float32) and class probabilities (N x 10) of uint8 images,
        on one thread: the same bits whatever the machine's core count."""
        feats, probs = [], []
        with one_thread():
            for i in range(0, len(images), self.batch_size):
                h = self.net.features(to_tensor(images[i : i + self.batch_size]))
                feats.append(h)
                probs.append(torch.softmax(self.net.head(h), dim=1))
        return torch.cat(feats).numpy(), torch.cat(probs).numpy()

    def accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        _, probs = self.embed(images)
        return float((probs.argmax(1) == labels).mean())


def load_classifier(path: str | Path = "stages/classifier/classifier.pt") -> FeatureClassifier:
    """Load the feature classifier written by `ganpipe train-classifier` (weights_only: no pickled code)."""
    state = load_torch(path)
    net = DigitCNN()
    try:
        net.load_state_dict(state)
    except Exception as exc:
        raise InputError(f"{path}: not a ganpipe feature classifier ({str(exc).splitlines()[0][:150]})") from None
    return FeatureClassifier(net)
