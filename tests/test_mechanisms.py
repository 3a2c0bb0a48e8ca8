"""The mechanism readings behind F3b, on nets whose answer is known by construction."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from ganpipe.study.mechanisms import kernel_lobes, offset_response
from ganpipe.training.models import make_discriminator


def _samples(n: int = 256) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.random((n, 28, 28)) ** 4 * 255).astype(np.uint8)


def _response(norm: str, seed: int) -> float:
    torch.manual_seed(seed)
    critic = make_discriminator("fc", size=28, batch_norm=norm == "batch")
    cfg = SimpleNamespace(critic="fc", constraint="clip", image_size=28, critic_norm=norm, output="sigmoid")
    return offset_response(critic.state_dict(), cfg, _samples(), offset=0.2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_batch_norm_critic_barely_sees_a_page_wide_offset(seed):
    """Batch statistics remove a batch-wide shift after the first layer: a tenth of what the same
    critic without norm answers, at any initialisation."""
    assert abs(_response("batch", seed)) < abs(_response("none", seed)) / 10


def test_the_offset_response_is_zero_for_no_offset_and_leaves_the_critic_as_it_was():
    torch.manual_seed(0)
    critic = make_discriminator("fc", size=28, batch_norm=True)
    state = {k: v.clone() for k, v in critic.state_dict().items()}
    cfg = SimpleNamespace(critic="fc", constraint="clip", image_size=28, critic_norm="batch", output="sigmoid")
    assert offset_response(state, cfg, _samples(), offset=0.0) == 0.0
    assert all(torch.equal(state[k], v) for k, v in critic.state_dict().items())


def _heads(k3: np.ndarray, k7: np.ndarray) -> dict:
    return {"heads.0.weight": torch.tensor(k3, dtype=torch.float32)[None, None].repeat(1, 2, 1, 1),
            "heads.0.bias": torch.zeros(1),
            "heads.1.weight": torch.tensor(k7, dtype=torch.float32)[None, None].repeat(1, 2, 1, 1),
            "heads.1.bias": torch.zeros(1)}


def test_an_emboss_filter_is_odd_with_its_lobes_apart():
    emboss = np.array([[-1.0, 0, 0], [0, 0, 0], [0, 0, 1.0]])
    k = kernel_lobes(_heads(emboss, np.zeros((7, 7))))
    assert k["odd_share"] == pytest.approx(1.0)
    assert k["lobe_offset_px"] == pytest.approx(2 * np.sqrt(2))
    assert k["kernel_sizes"] == [3, 7]


def test_a_blur_is_even_and_a_centre_surround_has_its_lobes_together():
    g = np.exp(-((np.arange(7) - 3) ** 2) / 2.0)
    blur = np.outer(g, g)
    assert kernel_lobes(_heads(np.zeros((3, 3)), blur))["odd_share"] == pytest.approx(0.0)
    surround = kernel_lobes(_heads(np.ones((3, 3)), -blur / blur.sum() * 9))  # the two heads summed
    assert surround["odd_share"] == pytest.approx(0.0, abs=1e-12)
    assert surround["lobe_offset_px"] == pytest.approx(0.0, abs=1e-9)
