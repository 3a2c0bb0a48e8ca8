"""The two training loops `ganpipe bench` compares: the project's (`train.fit`, as a stage runs
it) and a reference written the way public GAN scripts are."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganpipe.bench.timing import StepClock, count_flops, counted_ops_seconds, record_counted_ops
from ganpipe.data.images import read_image_set
from ganpipe.data.mnist import load_bundled
from ganpipe.params import GANParams, WGANParams
from ganpipe.training.loop import fit
from ganpipe.training.models import make_discriminator, make_generator
from ganpipe.training.objectives import build

# name -> (generator, discriminator): the MLP GAN (the common public shape) and the default conv5
ARCHITECTURES = {"mlp": ("fc", "fc"), "conv5": ("conv5", "fc")}
# Real MNIST test digits, where this machine has them; the bundled digits otherwise.
DEFAULT_DATA = Path("/work/shared/data/mnist-t10k/t10k-images-idx3-ubyte.gz")


# ---------------------------------------------------------------------------------------------
# Data


def resolve_data(path: Path | None) -> str:
    """The data source as a string (a file path, or 'bundled'), as the result records it. An explicit path must exist; only the default falls back."""
    if path is not None:
        return str(path)
    return str(DEFAULT_DATA) if DEFAULT_DATA.is_file() else "bundled"


def load_images(source: str) -> np.ndarray:
    """uint8 N x 28 x 28 digits from `resolve_data`'s answer (.npz, PNG folder or IDX file)."""
    if source == "bundled":
        return load_bundled()[0]
    return read_image_set(source)[0]


# ---------------------------------------------------------------------------------------------
# The project's loop


def gan_params(arch: str, steps: int, batch_size: int, precision: str = "fp32") -> GANParams:
    """The GAN stage's own defaults (a history row with diagnostics every 25 steps, grids every
    500, the end-of-run grid) for one architecture; only the step budget, the batch size and the
    precision are set."""
    generator, discriminator = ARCHITECTURES[arch]
    return GANParams(generator=generator, discriminator=discriminator, steps=steps, batch_size=batch_size,
                     precision=precision)


def wgan_params(steps: int, batch_size: int, precision: str = "fp32") -> WGANParams:
    """The WGAN stage's own defaults (conv5 generator, fc critic, clip, 5 critic updates per
    generator update); only the step budget, the batch size and the precision are set."""
    return WGANParams(steps=steps, batch_size=batch_size, precision=precision)


def run_project_loop(arch: str, data: torch.Tensor, steps: int, warmup: int, batch_size: int,
                     seed: int = 0, precision: str = "fp32", model: str = "gan") -> tuple[StepClock, dict[str, nn.Module]]:
    """`train.fit` as `ganpipe train-gan` runs it (no checkpoint file: the bench writes nothing but
    its JSON), clocked for warmup + steps steps. Returns the per-step clock and the trained nets.
    With model="wgan", the WGAN stage's default nets instead (arch is then ignored): a step is
    one generator update with its critic updates, as `ganpipe train-wgan` counts it.

    fit runs one step more, left off the clock: a run's last step draws the end-of-run grid, which
    a stage draws once in thousands of steps but a bench round would count once in `steps`."""
    total = warmup + steps + 1
    p = wgan_params(total, batch_size, precision) if model == "wgan" else gan_params(arch, total, batch_size, precision)
    objective = build(model, p, seed=seed)
    clock = StepClock()

    def tick(step: int) -> bool:  # fit calls this after every finished step
        if step <= warmup + steps:
            clock.tick()
        return False

    clock.tick()
    fit(objective, data, p, seed=seed, digest="bench", checkpoint=None, should_stop=tick, progress=False)
    return clock, objective.nets


def project_step_kernels(arch: str, data: torch.Tensor, batch_size: int, seed: int = 0) -> dict:
    """FLOPs of one `GANObjective.step` (d_steps = 1), on fresh nets, and the seconds its matmuls
    and convolutions take when replayed alone: the kernels' own rate, a ceiling for the loop's."""
    from ganpipe.training.loop import Batches

    objective = build("gan", gan_params(arch, 1, batch_size), seed=seed)
    batches = Batches(data, batch_size, seed)
    objective.step(batches)  # Adam's state exists from here on, as in every later step
    flops = count_flops(lambda: objective.step(batches))
    seconds = counted_ops_seconds(record_counted_ops(lambda: objective.step(batches)))
    return {"flops_per_step": flops, "kernel_ms_per_step": 1000 * seconds, "kernel_gflops": flops / seconds / 1e9}


# ---------------------------------------------------------------------------------------------
# The reference loop: how public GAN scripts are written


class DigitsDataset(torch.utils.data.Dataset):
    """uint8 digits served as torchvision.datasets.MNIST serves them: one PIL image per sample,
    through the per-sample transform, with a (dummy) label."""

    def __init__(self, images: np.ndarray, transform):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), 0


@dataclass
class ReferenceGAN:
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    latent: int


def reference_gan(arch: str, seed: int = 0) -> ReferenceGAN:
    """The same nets and Adam settings as the project's GAN stage."""
    torch.manual_seed(seed)
    p = gan_params(arch, 1, 64)
    G, D = make_generator(p.generator, p.latent), make_discriminator(p.discriminator)
    betas = (p.beta1, 0.999)
    return ReferenceGAN(G, D, torch.optim.Adam(G.parameters(), lr=p.lr_g, betas=betas),
                        torch.optim.Adam(D.parameters(), lr=p.lr_d, betas=betas), p.latent)


def textbook_step(gan: ReferenceGAN, real: torch.Tensor, log, epoch: int, i: int) -> None:
    """One GAN iteration as the tutorials write it (BCE on logits, since the nets return logits)."""
    G, D = gan.G, gan.D
    b = real.size(0)
    valid, fake_label = torch.ones(b), torch.zeros(b)

    # Train D: maximise log D(x) + log(1 - D(G(z)))
    z = torch.randn(b, gan.latent)
    fake = G(z)
    d_loss = F.binary_cross_entropy_with_logits(D(real), valid) + \
        F.binary_cross_entropy_with_logits(D(fake.detach()), fake_label)
    gan.opt_d.zero_grad()
    d_loss.backward()
    gan.opt_d.step()

    # Train G: maximise log D(G(z))
    z = torch.randn(b, gan.latent)
    fake = G(z)
    g_loss = F.binary_cross_entropy_with_logits(D(fake), valid)
    gan.opt_g.zero_grad()
    g_loss.backward()
    gan.opt_g.step()

    print(f"[Epoch {epoch}] [Batch {i}] [D loss: {d_loss.item():.4f}] [G loss: {g_loss.item():.4f}]", file=log)


def reference_loader(images: np.ndarray, batch_size: int) -> torch.utils.data.DataLoader:
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    # drop_last so that every step, here as in the project loop, is a full batch
    return torch.utils.data.DataLoader(DigitsDataset(images, transform), batch_size=batch_size, shuffle=True,
                                       drop_last=True)


def run_reference_loop(arch: str, images: np.ndarray, steps: int, warmup: int, batch_size: int,
                       seed: int = 0) -> tuple[StepClock, dict[str, nn.Module]]:
    """The reference loop for warmup + steps iterations, epoch after epoch of the DataLoader."""
    gan = reference_gan(arch, seed)
    loader = reference_loader(images, batch_size)
    total, done, epoch = warmup + steps, 0, 0
    clock = StepClock()
    clock.tick()
    with open(os.devnull, "w") as log:
        while done < total:
            for i, (real, _) in enumerate(loader):
                textbook_step(gan, real, log, epoch, i)
                clock.tick()
                done += 1
                if done == total:
                    break
            epoch += 1
    return clock, {"generator": gan.G, "discriminator": gan.D}


def reference_step_flops(arch: str, images: np.ndarray, batch_size: int, seed: int = 0) -> int:
    """FLOPs of one `textbook_step`, on fresh nets."""
    gan = reference_gan(arch, seed)
    real, _ = next(iter(reference_loader(images, batch_size)))
    with open(os.devnull, "w") as log:
        return count_flops(lambda: textbook_step(gan, real, log, 0, 0))
