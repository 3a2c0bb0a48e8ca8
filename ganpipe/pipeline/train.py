"""Stages train-ae, train-vae, train-gan, train-wgan: fit one model, write stages/<model>/
(the outputs of a training run: ganpipe.training.run)."""

from __future__ import annotations

from pathlib import Path

from ganpipe.params import Params
from ganpipe.pipeline import MNIST
from ganpipe.training.run import train


def train_model(model: str, params: Params, out: Path, data_path: Path = MNIST, resume: str = "auto",
                should_stop=None) -> dict:
    """Train one of 'ae', 'vae', 'gan', 'wgan' (its params group) and write its stage outputs."""
    return train(model, getattr(params, model), params, out, f"train-{model}", data_path, resume, should_stop)
