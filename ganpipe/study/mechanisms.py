"""Why a large clip draws what it draws (F3b): two readings of a trained WGAN's own nets.

    offset_response  how much the critic's score of the generator's samples drops when one grey
                     level is added to every pixel (a page-wide offset), as a share of the critic's
                     Wasserstein estimate, with the critic as training runs it: batch statistics,
                     fakes in a batch of their own. Batch norm subtracts each unit's batch mean, so a
                     batch-norm critic sees a batch-wide offset only through its first layer's
                     nonlinearity; a critic without it scores the offset, and only it can tell the
                     generator that a grey page is wrong.
    kernel_lobes     the upsample generator's output layer: its two parallel convolutions summed into
                     one kernel per input channel. An emboss filter is odd (its energy in the kernel's
                     antisymmetric part) with a positive and a negative lobe offset from each other; a
                     blur is even, a random kernel about half and half.

Both read the final weights (the runs keep no critic over training).
"""

from __future__ import annotations

import numpy as np


def offset_response(critic_state: dict, cfg, samples: np.ndarray, offset: float, batch: int = 64) -> float:
    """The mean critic score of `samples` (uint8, 28 x 28) minus that of the same samples lifted by
    `offset` (a share of the white level), the batches fed as training feeds fakes."""
    import torch

    from ganpipe.data.images import to_tensor
    from ganpipe.running.runtime import one_thread
    from ganpipe.training.models import ImageSpace, make_discriminator
    from ganpipe.training.objectives import unchanged_buffers

    critic = make_discriminator(cfg.critic, spectral_norm=cfg.constraint == "sn", size=cfg.image_size,
                                batch_norm=cfg.critic_norm == "batch")
    critic.load_state_dict(critic_state)
    critic.train()  # as the critic trains and as the generator's gradient comes from it
    space = ImageSpace(cfg.output, cfg.image_size)
    x = to_tensor(samples[: len(samples) // batch * batch])
    drops = []
    with one_thread(), torch.no_grad(), unchanged_buffers(critic):
        for part in x.split(batch):
            plain = critic(space.from_canonical(part)).mean()
            lifted = critic(space.from_canonical(part + 2 * offset)).mean()  # canonical range is [-1, 1]
            drops.append(float(plain - lifted))
    return float(np.mean(drops))


def kernel_lobes(generator_state: dict) -> dict:
    """The upsample generator's summed output kernel, per input channel: the share of its energy in
    the antisymmetric part (1: an emboss filter, 0: a blur) and the distance in pixels between the
    weight-centres of its positive and negative lobes; medians over channels, and the summed
    kernel of the channel whose lobes lie furthest apart (to draw)."""
    heads = sorted((k for k in generator_state if k.startswith("heads.") and k.endswith(".weight")),
                   key=lambda k: generator_state[k].shape[-1])
    kernels = [generator_state[k].numpy()[0] for k in heads]  # each: channels x k x k
    size = kernels[-1].shape[-1]
    total = np.zeros((kernels[0].shape[0], size, size))
    for k in kernels:
        pad = (size - k.shape[-1]) // 2
        total[:, pad:pad + k.shape[-1], pad:pad + k.shape[-1]] += k
    odd = (total - total[:, ::-1, ::-1]) / 2
    odd_share = (odd ** 2).sum(axis=(1, 2)) / np.maximum((total ** 2).sum(axis=(1, 2)), 1e-20)
    offsets = np.array([_lobe_offset(k) for k in total])
    widest = int(np.argmax(offsets))
    return {"odd_share": float(np.median(odd_share)), "lobe_offset_px": float(np.median(offsets)),
            "kernel_sizes": [int(k.shape[-1]) for k in kernels], "widest_kernel": total[widest].tolist()}


def _lobe_offset(kernel: np.ndarray) -> float:
    """Distance between the weight-centres of a kernel's positive and of its negative part."""
    ys, xs = np.indices(kernel.shape)

    def centre(w: np.ndarray) -> np.ndarray:
        return np.array([(w * ys).sum(), (w * xs).sum()]) / max(w.sum(), 1e-20)

    pos, neg = np.clip(kernel, 0, None), np.clip(-kernel, 0, None)
    if pos.sum() == 0 or neg.sum() == 0:
        return 0.0
    return float(np.linalg.norm(centre(pos) - centre(neg)))
