"""The networks, each a small nn.Module. Images are N x 1 x 28 x 28 in [-1, 1] unless an
`ImageSpace` says otherwise: the note's own setting trains at 56 x 56 (MNIST upscaled) with a
sigmoid output on [0, 1]; measures always see 28 x 28 on [-1, 1] (`ImageSpace.to_canonical`).

Generators (`make_generator`):
  fc        fully connected throughout, the common public MLP shape (196-128-256-512-1024-784, BN)
  conv3     the note's design: the same FC trunk to a 2-channel 28x28 map, then one 3x3 conv output
  conv5     the same with a 5x5 output kernel (the note's final choice)
  upsample  conv + upsample blocks whose output layer sums two parallel convs of different kernel
            sizes: the over-complex design the note gave up on (claim F5)
Discriminators / critics (`make_discriminator`): `fc` (MLP 784-512-256-1) and `conv`; both
return logits (no sigmoid), so the GAN uses BCE-with-logits and the WGAN reads them as f(x). With
`batch_norm`, every hidden layer but the first is batch-normalised, as in the DCGAN discriminator
that the WGAN paper's code uses as its critic.
"""

from __future__ import annotations

import torch
from torch import nn

IMAGE = (1, 28, 28)
PIXELS = 28 * 28
OUTPUTS = {"tanh": torch.tanh, "sigmoid": torch.sigmoid}


class ImageSpace:
    """Where a GAN's images live while it trains: side `size` (28, or the note's 56: MNIST upscaled
    bilinearly) and range [-1, 1] (tanh output) or [0, 1] (sigmoid output, as the note's network).
    Real digits enter through `from_canonical`, generated ones leave through `to_canonical`, so
    every measure compares 28 x 28 images on [-1, 1] whatever the training setting."""

    def __init__(self, output: str = "tanh", size: int = 28):
        self.output, self.size = output, size

    def from_canonical(self, x):
        if self.size != 28:
            x = nn.functional.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return (x + 1) / 2 if self.output == "sigmoid" else x

    def to_canonical(self, x):
        if self.size != 28:  # the mean of each 2x2 block: the inverse of a 2x upscale up to blur
            x = nn.functional.adaptive_avg_pool2d(x, 28)
        return x * 2 - 1 if self.output == "sigmoid" else x


def mlp_trunk(latent: int, out_features: int) -> nn.Sequential:
    """z -> 128 -> 256 -> 512 -> 1024 -> out, with batch norm: the generator body of fc/conv3/conv5."""
    widths = [latent, 128, 256, 512, 1024]
    layers: list[nn.Module] = [nn.Linear(widths[0], widths[1]), nn.LeakyReLU(0.2)]
    for a, b in zip(widths[1:-1], widths[2:]):
        layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.LeakyReLU(0.2)]
    layers.append(nn.Linear(widths[-1], out_features))
    return nn.Sequential(*layers)


class FCGenerator(nn.Module):
    def __init__(self, latent: int, output: str = "tanh", size: int = 28):
        super().__init__()
        self.net = mlp_trunk(latent, size * size)
        self.output, self.size = OUTPUTS[output], size

    def forward(self, z):
        return self.output(self.net(z)).view(-1, 1, self.size, self.size)


class ConvHeadGenerator(nn.Module):
    """FC trunk to a 2 x size x size map, then a single k x k conv (the note: 196 dims, FC to
    56 x 56 x 2, then a conv to 56 x 56): the conv smooths what the FC layers cannot
    (neighbouring output pixels of an FC layer are independent)."""

    def __init__(self, latent: int, kernel: int, output: str = "tanh", size: int = 28):
        super().__init__()
        self.trunk = mlp_trunk(latent, 2 * size * size)
        self.head = nn.Conv2d(2, 1, kernel, padding=kernel // 2)
        self.output, self.size = OUTPUTS[output], size

    def forward(self, z):
        x = nn.functional.leaky_relu(self.trunk(z), 0.2).view(-1, 2, self.size, self.size)
        # channels-last: oneDNN's kernels for a 2-channel conv are ~4x faster on the CPU in this
        # layout, forward and backward (a memory layout, not a different computation)
        return self.output(self.head(x.contiguous(memory_format=torch.channels_last)))


class UpsampleGenerator(nn.Module):
    """z -> 128 x 7 x 7 -> (upsample, conv) x 2 -> two parallel output convs, summed."""

    def __init__(self, latent: int, kernels: tuple[int, int] = (3, 7), output: str = "tanh"):
        super().__init__()
        self.output = OUTPUTS[output]
        self.project = nn.Sequential(nn.Linear(latent, 128 * 7 * 7, bias=False), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU())
        self.body = nn.Sequential(
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(128, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(64, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
        )
        self.heads = nn.ModuleList(nn.Conv2d(32, 1, k, padding=k // 2) for k in kernels)

    def forward(self, z):
        x = self.project(z).view(-1, 128, 7, 7).contiguous(memory_format=torch.channels_last)  # ~25% faster on CPU
        x = self.body(x)
        return self.output(sum(head(x) for head in self.heads))


def make_generator(kind: str, latent: int, upsample_kernels: tuple[int, int] = (3, 7), output: str = "tanh",
                   size: int = 28) -> nn.Module:
    if kind == "fc":
        return FCGenerator(latent, output, size)
    if kind in ("conv3", "conv5"):
        return ConvHeadGenerator(latent, int(kind[-1]), output, size)
    if kind == "upsample":
        if size != 28:
            raise ValueError("the upsample generator draws 28 x 28 images only")
        return UpsampleGenerator(latent, upsample_kernels, output)
    raise ValueError(f"unknown generator {kind!r}; allowed: fc, conv3, conv5, upsample")


def _norm(features: int, batch_norm: bool, dims: int = 1) -> list[nn.Module]:
    return [(nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(features)] if batch_norm else []


class FCDiscriminator(nn.Module):
    def __init__(self, size: int = 28, batch_norm: bool = False):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(size * size, 512), nn.LeakyReLU(0.2),
            nn.Linear(512, 256), *_norm(256, batch_norm), nn.LeakyReLU(0.2),
            nn.Linear(256, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


class ConvDiscriminator(nn.Module):
    """Two strided convs and a linear read-out; without batch norm it also serves as a WGAN-GP critic."""

    def __init__(self, size: int = 28, batch_norm: bool = False):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.2),
            nn.Conv2d(32, 64, 4, stride=2, padding=1), *_norm(64, batch_norm, dims=2), nn.LeakyReLU(0.2),
            nn.Flatten(), nn.Linear(64 * (size // 4) ** 2, 1),
        )

    def forward(self, x):
        return self.net(x).squeeze(1)


def make_discriminator(kind: str, spectral_norm: bool = False, size: int = 28, batch_norm: bool = False) -> nn.Module:
    net = {"fc": FCDiscriminator, "conv": ConvDiscriminator}[kind](size, batch_norm)
    if spectral_norm:  # Miyato et al. 2018: every weight layer divided by its largest singular value
        for name, module in list(net.named_modules()):
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                parent = net.get_submodule(name.rsplit(".", 1)[0]) if "." in name else net
                setattr(parent, name.rsplit(".", 1)[-1], nn.utils.parametrizations.spectral_norm(module))
    return net


class Autoencoder(nn.Module):
    """784 -> hidden -> latent -> hidden -> 784. The decoder returns logits of pixel intensity."""

    def __init__(self, latent: int, hidden: int, variational: bool = False):
        super().__init__()
        self.latent, self.variational = latent, variational
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(PIXELS, hidden), nn.ReLU(), nn.Linear(hidden, hidden // 2), nn.ReLU())
        # a VAE's encoder outputs a mean and a log-variance per latent dimension
        self.code = nn.Linear(hidden // 2, latent * (2 if variational else 1))
        self.decoder = nn.Sequential(
            nn.Linear(latent, hidden // 2), nn.ReLU(), nn.Linear(hidden // 2, hidden), nn.ReLU(), nn.Linear(hidden, PIXELS)
        )

    def encode(self, x):
        h = self.code(self.encoder(x))
        return h.chunk(2, dim=1) if self.variational else (h, None)

    def decode_logits(self, z):
        return self.decoder(z).view(-1, *IMAGE)

    def decode(self, z):
        """Codes -> images in [-1, 1]."""
        return torch.sigmoid(self.decode_logits(z)) * 2 - 1


class Decoder(nn.Module):
    """An autoencoder's decoder as a module of its own: codes -> images in [-1, 1], the way a GAN's
    generator maps them (what MLflow serves as the AE's and the VAE's generator)."""

    def __init__(self, autoencoder: Autoencoder):
        super().__init__()
        self.autoencoder = autoencoder

    def forward(self, z):
        return self.autoencoder.decode(z)
