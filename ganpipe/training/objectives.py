"""What one training step does, for each model. The loop that runs them (`loop.py`, beside this module) is shared by all four.

Each objective owns its networks and optimizers and has:
  step(next_batch)  one update (a GAN step holds d_steps discriminator updates, a WGAN step n_critic
                    critic updates, then one generator update); returns detached scalar tensors,
                    so the hot path never waits on a host sync
  diagnose()        costlier measurements, on a fixed probe batch, at logging steps only
  generate(z)       28 x 28 images in [-1, 1] from codes (AE/VAE: decoded N(0, I) codes), whatever
                    the size and range the model trains at (`space`, see models.ImageSpace)
  pretrain(batches) what happens once before the first step (a GAN's D pretraining), nothing by default
The loop sets `iteration` (the 1-based index of the step about to run) before each step.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ganpipe.measures.metrics import boundary_share
from ganpipe.params import AEParams, GANParams, VAEParams, WGANParams
from ganpipe.training.models import Autoencoder, ImageSpace, make_discriminator, make_generator

NextBatch = Callable[[], Tensor]
LOG4 = math.log(4.0)


def adam(params, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam with the fused kernel: one pass over all tensors instead of a dozen small ops per
    tensor, which on the CPU took ~30% of a GAN step (`ganpipe bench`). Same update rule; the
    float rounding differs from the per-tensor loop, and is the same from run to run."""
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)


@contextmanager
def frozen(net: nn.Module):
    """No weight gradients for `net` inside: the generator's update backpropagates through D only
    to reach G, so D's weight gradients (discarded anyway) are not computed."""
    net.requires_grad_(False)
    try:
        yield
    finally:
        net.requires_grad_(True)


@contextmanager
def unchanged_buffers(net: nn.Module):
    """Restore `net`'s buffers on exit. A training-mode forward updates batch norm's running
    statistics; a measurement must not, or the grids (drawn in eval mode from those statistics)
    would depend on how often diagnostics ran."""
    saved = [b.clone() for b in net.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(net.buffers(), saved):
                b.copy_(s)


def both(net: nn.Module, real: Tensor, fake: Tensor, separately: bool = False) -> tuple[Tensor, Tensor]:
    """net(real), net(fake) in one batched call: one larger matmul per layer runs nearer the CPU's
    peak than two small ones. Exact only for nets without batch statistics; a batch-norm critic
    must see each batch `separately`, as the WGAN paper's code feeds it."""
    if separately:
        return net(real), net(fake)
    out = net(torch.cat([real, fake]))
    return out[: len(real)], out[len(real) :]


def total_norm(tensors: list[Tensor]) -> Tensor:
    """The L2 norm of all `tensors` taken as one vector."""
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(tensors)))


def grad_norm(params) -> Tensor:
    grads = [p.grad for p in params if p.grad is not None]
    return total_norm(grads) if grads else torch.zeros(())


class Objective:
    nets: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    latent: int
    space = ImageSpace()  # training images: real digits enter as space.from_canonical(x)
    iteration = 1

    def pretrain(self, next_batch: NextBatch) -> None:
        pass

    def set_probe(self, real: Tensor, z: Tensor) -> None:
        """A fixed real batch and fixed codes for `diagnose`, so diagnostics never touch training RNG."""
        self.probe_real, self.probe_z = real, z

    def diagnose(self) -> dict[str, float]:
        return {}

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        raise NotImplementedError


class AutoencoderObjective(Objective):
    """Reconstruction (Bernoulli log-likelihood of pixel intensities); for a VAE plus beta * KL to N(0, I)."""

    def __init__(self, p: AEParams | VAEParams, variational: bool):
        self.latent, self.variational = p.latent, variational
        self.beta = getattr(p, "beta", 0.0)
        self.model = Autoencoder(p.latent, p.hidden, variational)
        self.nets = {"autoencoder": self.model}
        self.optimizers = {"adam": adam(self.model.parameters(), lr=p.lr)}

    def step(self, next_batch: NextBatch) -> dict[str, Tensor]:
        x = next_batch()
        target = (x + 1) / 2
        mu, logvar = self.model.encode(x)
        if self.variational:  # reparameterisation: z = mu + sigma * eps keeps the sample differentiable
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        else:
            z = mu
        logits = self.model.decode_logits(z)
        recon = F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / len(x)
        loss = recon
        out = {"recon": recon.detach()}
        if self.variational:
            kl = kl_to_standard_normal(mu, logvar)
            loss = recon + self.beta * kl
            out["kl"] = kl.detach()
        self.optimizers["adam"].zero_grad(set_to_none=True)
        loss.backward()
        self.optimizers["adam"].step()
        out["loss"] = loss.detach()
        return out

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        return self.model.decode(z)

    @torch.no_grad()
    def reconstruct(self, x: Tensor) -> Tensor:
        """Decode the encoder's mean code: what the model keeps of x (samples show what it can invent)."""
        return self.model.decode(self.model.encode(x)[0])


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) in closed form, summed over dimensions, averaged over the batch."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(mu)


class GANObjective(Objective):
    """Goodfellow et al. 2014 with BCE; the generator minimises log(1 - D(G(z))) ('saturating', the
    minimax form of the note) or maximises log D(G(z)) ('nonsaturating', the paper's practical fix)."""

    def __init__(self, p: GANParams):
        self.p, self.latent = p, p.latent
        self.space = ImageSpace(p.output, p.image_size)
        self.G = make_generator(p.generator, p.latent, p.upsample_kernels, p.output, p.image_size)
        self.D = make_discriminator(p.discriminator, size=p.image_size)
        self.nets = {"generator": self.G, "discriminator": self.D}
        betas = (p.beta1, 0.999)
        self.optimizers = {
            "g": adam(self.G.parameters(), lr=p.lr_g, betas=betas),
            "d": adam(self.D.parameters(), lr=p.lr_d, betas=betas),
        }

    def generator_loss(self, d_fake_logits: Tensor, kind: str) -> Tensor:
        if kind == "saturating":
            return -F.softplus(d_fake_logits).mean()  # = mean log(1 - sigmoid(logits))
        return F.binary_cross_entropy_with_logits(d_fake_logits, torch.ones_like(d_fake_logits))

    def d_update(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One discriminator update on a real and a fake batch; returns the loss and both logits."""
        d_real, d_fake = both(self.D, real, fake)
        d_loss = F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + \
            F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
        self.optimizers["d"].zero_grad(set_to_none=True)
        d_loss.backward()
        self.optimizers["d"].step()
        return d_loss, d_real, d_fake

    def pretrain(self, next_batch: NextBatch) -> None:
        """d_pretrain updates of D against the untrained G (as the tutorial GAN the note's network
        resembles): D starts the game already ahead."""
        for _ in range(self.p.d_pretrain):
            real = next_batch()
            with torch.no_grad():
                fake = self.G(torch.randn(len(real), self.latent))
            self.d_update(real, fake)

    def step(self, next_batch: NextBatch) -> dict[str, Tensor]:
        for i in range(self.p.d_steps):
            real = next_batch()
            if i == self.p.d_steps - 1:  # the last batch of fakes also trains G (as pytorch/examples dcgan)
                fake = self.G(torch.randn(len(real), self.latent))
                fake_for_d = fake.detach()
            else:
                with torch.no_grad():
                    fake_for_d = self.G(torch.randn(len(real), self.latent))
            d_loss, d_real, d_fake = self.d_update(real, fake_for_d)

        with frozen(self.D):
            g_loss = self.generator_loss(self.D(fake), self.p.g_loss)  # D just moved: score the fakes again
        self.optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["g"].step()

        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_acc_real": (d_real > 0).float().mean(),
            "d_acc_fake": (d_fake < 0).float().mean(),
            "d_real": torch.sigmoid(d_real).mean().detach(),
            "d_fake": torch.sigmoid(d_fake).mean().detach(),
            # V(D, G) = -d_loss, and V = 2 JS - 2 log 2 at the optimal D, so JS ~ (V + log 4) / 2
            "js_estimate": (LOG4 - d_loss.detach()) / 2,
            "g_grad_norm": grad_norm(self.G.parameters()),
        }

    def diagnose(self) -> dict[str, float]:
        """Norm of the generator's gradient under both losses on the probe codes: the saturating
        loss's gradient vanishes when D rejects the fakes confidently (claim F2); and, under the
        loss G trains with, what of it reaches G's output layer (`output_gradient`, claim F1). One
        forward serves both losses; G's batch-norm statistics are left as they were."""
        out = {}
        params = list(self.G.parameters())
        with frozen(self.D), unchanged_buffers(self.G):
            images = self.G(self.probe_z)
            logits = self.D(images)
            for kind in ("saturating", "nonsaturating"):
                loss = self.generator_loss(logits, kind)
                *grads, at_pixels = torch.autograd.grad(loss, params + [images], retain_graph=kind == "saturating")
                out[f"g_grad_norm_{kind}"] = total_norm(list(grads)).item()
                if kind == self.p.g_loss:
                    out.update(output_gradient(images.detach(), at_pixels, self.p.output))
        return out

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        return self.space.to_canonical(self.G(z))


def output_gradient(images: Tensor, at_pixels: Tensor, output: str) -> dict[str, float]:
    """What of D's verdict reaches G's weights. D's gradient at the pixels (`g_grad_at_pixels`)
    enters G through its output nonlinearity's slope at each pixel (sigmoid y(1 - y), tanh 1 - y^2):
    their product, the gradient at the output layer's pre-activation (`g_grad_at_output`), is all
    that reaches any weight. A pixel whose slope is below 1% of its peak is saturated and passes
    almost nothing; `g_pinned_black` is the share of pixels saturated at the dark end, the black
    a generator cannot leave by its own gradient. Norms over the probe batch, as `g_grad_norm`."""
    if output == "sigmoid":
        slope, peak, dark = images * (1 - images), 0.25, images < 0.5
    else:
        slope, peak, dark = 1 - images**2, 1.0, images < 0
    return {"g_grad_at_pixels": at_pixels.norm().item(), "g_grad_at_output": (at_pixels * slope).norm().item(),
            "g_pinned_black": ((slope < 0.01 * peak) & dark).float().mean().item()}


# A page-wide lift of a fifth of the white level: the weakest grey page among F3b's controls
# (findings.yaml, controls.grey_pages), the faintest offset a large clip's grey page shows
PAGE_OFFSET = 0.2


class WGANObjective(Objective):
    """Arjovsky et al. 2017: the critic f maximises E f(x) - E f(G(z)) under a Lipschitz constraint,
    by weight clipping ('clip'), a gradient penalty ('gp', Gulrajani et al. 2017) or spectral
    normalisation ('sn', Miyato et al. 2018)."""

    def __init__(self, p: WGANParams):
        self.p, self.latent = p, p.latent
        self.space = ImageSpace(p.output, p.image_size)
        self.G = make_generator(p.generator, p.latent, p.upsample_kernels, p.output, p.image_size)
        self.C = make_discriminator(p.critic, spectral_norm=p.constraint == "sn", size=p.image_size,
                                    batch_norm=p.critic_norm == "batch")
        self.nets = {"generator": self.G, "critic": self.C}
        if p.constraint == "clip":  # the WGAN paper: momentum-free RMSprop
            make = lambda params: torch.optim.RMSprop(params, lr=p.lr, foreach=True)  # noqa: E731
        else:  # Gulrajani et al.: Adam(lr 1e-4, betas (0, 0.9))
            make = lambda params: adam(params, lr=p.lr_gp, betas=(0.0, 0.9))  # noqa: E731
        self.optimizers = {"g": make(self.G.parameters()), "c": make(self.C.parameters())}
        self.clipped = [w for w in self.C.parameters()]

    def gradient_penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        eps = torch.rand(len(real), 1, 1, 1)
        mix = (eps * real + (1 - eps) * fake).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.C(mix).sum(), mix, create_graph=True)
        return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()

    def critic_updates(self) -> int:
        """Critic updates before this generator update: n_critic, or the WGAN paper's schedule
        (Algorithm 1's code: 100 for the first 25 generator updates and every 500th)."""
        g = self.iteration - 1  # generator updates done so far
        if self.p.critic_schedule == "paper" and (g < 25 or g % 500 == 0):
            return 100
        return self.p.n_critic

    def step(self, next_batch: NextBatch) -> dict[str, Tensor]:
        reals = [next_batch() for _ in range(self.critic_updates())]
        with torch.no_grad():  # G is fixed during the critic's updates: one batched forward for all of them
            fakes = self.G(torch.randn(sum(len(r) for r in reals), self.latent)).split([len(r) for r in reals])
        for real, fake in zip(reals, fakes):
            f_real, f_fake = both(self.C, real, fake, separately=self.p.critic_norm == "batch")
            wasserstein = f_real.mean() - f_fake.mean()
            c_loss = -wasserstein
            if self.p.constraint == "gp":
                c_loss = c_loss + self.p.gp_lambda * self.gradient_penalty(real, fake)
            self.optimizers["c"].zero_grad(set_to_none=True)
            c_loss.backward()
            self.optimizers["c"].step()
            if self.p.constraint == "clip":
                with torch.no_grad():
                    torch._foreach_clamp_min_(self.clipped, -self.p.clip)
                    torch._foreach_clamp_max_(self.clipped, self.p.clip)
        c_grad = grad_norm(self.C.parameters())

        with frozen(self.C):
            g_loss = -self.C(self.G(torch.randn(len(real), self.latent))).mean()
        self.optimizers["g"].zero_grad(set_to_none=True)
        g_loss.backward()
        self.optimizers["g"].step()
        return {
            "c_loss": c_loss.detach(),
            "g_loss": g_loss.detach(),
            "wasserstein": wasserstein.detach(),
            "c_grad_norm": c_grad,
            "g_grad_norm": grad_norm(self.G.parameters()),
        }

    def diagnose(self) -> dict[str, float]:
        """How much lower the critic scores the probe's fakes lifted by PAGE_OFFSET (claim F3b's
        mechanism: a critic that scores a page-wide offset can tell G a grey page is wrong), with
        both nets as training runs them (batch statistics, the fakes in a batch of their own) and
        their statistics left as they were; and, under clipping, the critic's share at the clip (F3)."""
        lift = 2 * PAGE_OFFSET * (0.5 if self.p.output == "sigmoid" else 1.0)  # white is 1 in [0, 1], 2 above -1
        with torch.no_grad(), unchanged_buffers(self.G), unchanged_buffers(self.C):
            fakes = self.G(self.probe_z)
            out = {"critic_offset_drop": (self.C(fakes).mean() - self.C(fakes + lift).mean()).item()}
            if self.p.constraint == "clip":
                w = torch.cat([p.flatten() for p in self.C.parameters()])
                out["clip_boundary_share"] = boundary_share(w.cpu().numpy(), self.p.clip)
        return out

    @torch.no_grad()
    def generate(self, z: Tensor) -> Tensor:
        return self.space.to_canonical(self.G(z))


def build(model: str, p, seed: int | None = None) -> Objective:
    """The objective of a stage: model is 'ae', 'vae', 'gan' or 'wgan', p its params group.
    With a seed, the initial weights depend on it alone, not on what ran before."""
    if seed is not None:
        torch.manual_seed(seed)
    if model in ("ae", "vae"):
        return AutoencoderObjective(p, variational=model == "vae")
    return {"gan": GANObjective, "wgan": WGANObjective}[model](p)
