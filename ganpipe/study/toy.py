"""Small trained experiments behind F2 (JS saturation) and F2b (optimal D).

Everything here runs in seconds on a laptop CPU and needs no data: 1-D Gaussians and the 2-D toy
of the WGAN paper (Arjovsky et al. 2017, example 1). Each function takes plain numbers and a
seed and returns a JSON-ready dict of Python floats and lists; claims/f2_js_saturation.py and
claims/f2b_optimal_d.py turn those numbers into verdicts. The exact divergences they are
compared with are in divergences.py. Nothing here decides a verdict.

    disjoint_supports()       F2: P_0 = (0, Z) vs P_theta = (theta, Z): JS is stuck at log 2, W = |theta|;
                              a trained D saturates and its gradient vanishes, a clipped critic tracks |theta|.
    optimal_discriminator()   F2b: a trained D on two 1-D Gaussians against D* = p_R / (p_R + p_G).

Determinism: torch work runs inside `torch.random.fork_rng` (so the caller's global RNG is left
untouched) and samples from a local `torch.Generator`. Networks are float64: they are tiny, and
a saturated discriminator's gradient is exactly the quantity under study, so we do not want
float32 underflow to zero it.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ganpipe.study.divergences import LOG2, integrate, normal_logpdf

DTYPE = torch.float64

# ----------------------------------------------------------------------------------------------
# small networks and their training loops (shared by F2 and F2b)


@contextmanager
def _torch_sandbox(seed: int) -> Iterator[None]:
    """Seeded, single-threaded torch for a block; the caller's RNG state and thread count come back after.

    One thread because these nets are a few thousand weights: each op is microseconds of work,
    and handing it to a thread pool costs more than it saves (measured ~0.6 ms/step on 1 thread,
    tens of ms/step on 2 threads of a busy 2-core machine).
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)


Sampler = Callable[[int, torch.Generator], torch.Tensor]


def mlp(n_in: int, hidden: int) -> nn.Sequential:
    """n_in -> hidden -> hidden -> 1, ReLU. Outputs a logit (D) or a score (critic): no sigmoid inside."""
    return nn.Sequential(
        nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
    ).to(DTYPE)


def train_discriminator(
    real: Sampler, fake: Sampler, n_in: int, steps: int, batch: int, lr: float, hidden: int, gen: torch.Generator
) -> nn.Sequential:
    """The standard GAN discriminator step, G frozen: BCE on fresh real (label 1) and fake (label 0) batches, Adam.

    Fresh samples every step, so D approaches the population optimum D*, not a memorised sample.
    The net returns logits; D = sigmoid(logit) and BCE-with-logits keeps log D finite when D saturates.
    """
    net = mlp(n_in, hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    ones, zeros = torch.ones(batch, 1, dtype=DTYPE), torch.zeros(batch, 1, dtype=DTYPE)
    for _ in range(steps):
        loss = F.binary_cross_entropy_with_logits(net(real(batch, gen)), ones) + F.binary_cross_entropy_with_logits(
            net(fake(batch, gen)), zeros
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return net


def train_critic(
    real: Sampler, fake: Sampler, n_in: int, steps: int, batch: int, lr: float, hidden: int, clip: float,
    gen: torch.Generator,
) -> nn.Sequential:
    """The WGAN critic step, G frozen: maximise E f(real) - E f(fake) with RMSprop, weights clipped to [-c, c].

    Clipping every parameter after each step (as in the WGAN paper) keeps f K-Lipschitz for some
    K set by c and the widths, so the critic estimates K * W(P_real, P_fake), not W itself.
    """
    net = mlp(n_in, hidden)
    opt = torch.optim.RMSprop(net.parameters(), lr=lr)
    for _ in range(steps):
        loss = -(net(real(batch, gen)).mean() - net(fake(batch, gen)).mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            for p in net.parameters():
                p.clamp_(-clip, clip)
    return net


# ----------------------------------------------------------------------------------------------
# F2: disjoint supports (WGAN paper, example 1)


def _line(theta: float | torch.Tensor, n: int, gen: torch.Generator) -> torch.Tensor:
    """n samples of (theta, Z), Z ~ U[0, 1]: a vertical segment at x = theta. theta may carry grad."""
    z = torch.rand(n, 1, generator=gen, dtype=DTYPE)
    return torch.cat([torch.as_tensor(theta, dtype=DTYPE).expand(n, 1), z], dim=1)


def _linear_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares y = slope * x + intercept; returns (slope, intercept, R^2)."""
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (slope * x + intercept)
    r2 = 1.0 - float(np.sum(residual**2)) / float(np.sum((y - y.mean()) ** 2))
    return float(slope), float(intercept), r2


def _probe(d: nn.Module, f: nn.Module, theta: float, n_eval: int, seed: int) -> dict[str, float]:
    """A trained D and critic at one theta, on fresh samples, with theta a leaf tensor so that
    autograd reaches it through the fake points (theta, z)."""
    gen = torch.Generator().manual_seed(seed + 1)
    x_real = _line(0.0, n_eval, gen)
    z_state = gen.get_state()
    t = torch.tensor(theta, dtype=DTYPE, requires_grad=True)
    logit_real, logit_fake = d(x_real), d(_line(t, n_eval, gen))
    gen_objective = F.logsigmoid(-logit_fake).mean()  # E log(1 - D(G))
    (d_grad,) = torch.autograd.grad(gen_objective, t, retain_graph=True)
    (d_grad_nonsat,) = torch.autograd.grad(-F.logsigmoid(logit_fake).mean(), t)

    gen.set_state(z_state)  # the critic sees the very same fake points
    t = torch.tensor(theta, dtype=DTYPE, requires_grad=True)
    estimate = f(x_real).mean() - f(_line(t, n_eval, gen)).mean()
    (critic_grad,) = torch.autograd.grad(estimate, t)
    return {
        "js_analytic": LOG2 if theta != 0.0 else 0.0,
        "w_analytic": abs(theta),
        "js_estimate": 0.5 * (F.logsigmoid(logit_real).mean() + gen_objective).item() + LOG2,
        "d_accuracy": 0.5 * ((logit_real > 0).double().mean() + (logit_fake < 0).double().mean()).item(),
        "d_grad": d_grad.item(),
        "d_grad_nonsat": d_grad_nonsat.item(),
        "critic_estimate": estimate.item(),
        "critic_grad": critic_grad.item(),
    }


def disjoint_supports(
    thetas: Sequence[float] | None = None,
    seed: int = 0,
    steps: int = 200,
    batch: int = 256,
    hidden: int = 32,
    d_lr: float = 1e-2,
    critic_lr: float = 1e-3,
    clip: float = 0.1,
    n_eval: int = 4096,
) -> dict:
    """F2: P_0 = (0, Z) against P_theta = (theta, Z), Z ~ U[0,1]; the supports are disjoint for theta != 0.

    Analytic: JS(P_0, P_theta) = log 2 for every theta != 0 (and 0 at theta = 0), W = |theta|.
    So JS is flat (no gradient to follow) while W points back to theta = 0.

    Trained, per theta, from the same initial weights and the same random stream (common random
    numbers: differences between thetas are then due to theta, not to luck):
    - a discriminator (BCE, Adam). Its JS estimate is (V(D, G) + 2 log 2) / 2 on n_eval fresh
      samples. `d_grad` is d/dtheta of the generator's saturating objective E log(1 - D(theta, z)),
      by autograd through the samples; `d_grad_nonsat` the same for the non-saturating
      -E log D(theta, z) most implementations use instead (reported so the reader can see which
      loss the vanishing applies to).
    - a clipped critic (RMSprop, weights in [-clip, clip]). Its estimate E f(P_0) - E f(P_theta) should
      be proportional to |theta| (linear fit: slope = the critic's Lipschitz scale, R^2);
      `critic_grad` is its d/dtheta, expected to have the sign of theta. `critic_grad_normalised`
      divides by the fitted slope, i.e. the gradient of the critic's estimate of W itself (ideal: sign(theta)).
    Summaries are over theta != 0.
    """
    thetas = [float(t) for t in (np.linspace(-1.0, 1.0, 11) if thetas is None else thetas)]
    if len({abs(t) for t in thetas}) < 2 or not any(thetas):
        raise ValueError(f"thetas={thetas}: need a nonzero theta and at least two distinct |theta| for the W fit")
    names = ("js_analytic", "w_analytic", "js_estimate", "d_accuracy", "d_grad", "d_grad_nonsat",
             "critic_estimate", "critic_grad")
    rows: dict[str, list[float]] = {k: [] for k in names}
    with _torch_sandbox(seed):
        for theta in thetas:
            real, fake = partial(_line, 0.0), partial(_line, theta)
            # same initial weights and same sample stream for every theta (common random numbers)
            torch.manual_seed(seed)
            d = train_discriminator(real, fake, 2, steps, batch, d_lr, hidden, torch.Generator().manual_seed(seed))
            torch.manual_seed(seed)
            f = train_critic(real, fake, 2, steps, batch, critic_lr, hidden, clip, torch.Generator().manual_seed(seed))

            for name, value in _probe(d, f, theta, n_eval, seed).items():
                rows[name].append(value)

    th = np.array(thetas)
    away = th != 0.0
    slope, intercept, r2 = _linear_fit(np.abs(th), np.array(rows["critic_estimate"]))
    js_est, d_grad, d_grad_nonsat, c_grad = (
        np.array(rows[k])[away] for k in ("js_estimate", "d_grad", "d_grad_nonsat", "critic_grad")
    )
    rows["critic_grad_normalised"] = [g / slope for g in rows["critic_grad"]]
    return {
        "seed": seed,
        "settings": {"steps": steps, "batch": batch, "hidden": hidden, "d_lr": d_lr, "critic_lr": critic_lr,
                     "clip": clip, "n_eval": n_eval},
        "thetas": thetas,
        **rows,
        "js_estimate_min": float(js_est.min()),
        "js_estimate_max": float(js_est.max()),
        "js_estimate_at_zero": rows["js_estimate"][thetas.index(0.0)] if 0.0 in thetas else None,
        "d_grad_mean_abs": float(np.abs(d_grad).mean()),
        "d_grad_nonsat_mean_abs": float(np.abs(d_grad_nonsat).mean()),
        "critic_grad_mean_abs": float(np.abs(c_grad).mean()),
        "critic_grad_normalised_mean_abs": float(np.abs(c_grad).mean() / abs(slope)),
        "critic_grad_sign_agreement": float(np.mean(np.sign(c_grad) == np.sign(th[away]))),
        # any net with all weights in [-c, c] has |df/dx_1| <= sum over paths |w3 w2 w1| <= hidden^2 c^3,
        # so |critic_grad| and the slope cannot exceed this: a check that the clipping took effect
        "critic_lipschitz_bound": hidden**2 * clip**3,
        "w_fit_slope": slope,
        "w_fit_intercept": intercept,
        "w_fit_r2": r2,
    }


# ----------------------------------------------------------------------------------------------
# F2b: the optimal discriminator on two 1-D Gaussians


def optimal_discriminator(
    mu_r: float = 0.0,
    sigma_r: float = 1.0,
    mu_g: float = 1.5,
    sigma_g: float = 0.7,
    seed: int = 0,
    steps: int = 2000,
    batch: int = 512,
    hidden: int = 32,
    lr: float = 1e-3,
    grid: tuple[float, float, int] = (-3.0, 4.0, 141),
    support_fraction: float = 0.01,
) -> dict:
    """F2b: train D on P_R = N(mu_r, sigma_r^2) vs P_G = N(mu_g, sigma_g^2); compare with D* = p_R / (p_R + p_G).

    The error is measured in two ways, because D is only constrained where there is data:
    - `mae_weighted`: |D - D*| averaged over the grid with weights m(x) = (p_R + p_G)/2, i.e. the
      expected error under the mixture D is trained on (the primary number);
    - `mae_restricted`: plain average over grid points where m(x) >= support_fraction * max m.
    `mae_all` (the plain grid average) is given too. The same three numbers for the constant
    D = 1/2 (what D* would be if P_G = P_R) are the reference a trained D must beat.
    Also: the value V(D, G) and the JS estimate (V + 2 log 2)/2 of the trained D against the analytic
    JS, by numerical integration on a wide grid (ties F2b to F7: V(D*) = 2 JS - 2 log 2).
    """
    lo, hi, n_grid = grid
    x = np.linspace(lo, hi, int(n_grid))
    log_pr, log_pg = normal_logpdf(x, mu_r, sigma_r), normal_logpdf(x, mu_g, sigma_g)
    d_star = np.exp(log_pr - np.logaddexp(log_pr, log_pg))
    mix = 0.5 * (np.exp(log_pr) + np.exp(log_pg))
    weights = mix / mix.sum()
    inside = mix >= support_fraction * mix.max()

    def real(n: int, g: torch.Generator) -> torch.Tensor:
        return mu_r + sigma_r * torch.randn(n, 1, generator=g, dtype=DTYPE)

    def fake(n: int, g: torch.Generator) -> torch.Tensor:
        return mu_g + sigma_g * torch.randn(n, 1, generator=g, dtype=DTYPE)

    with _torch_sandbox(seed):
        net = train_discriminator(real, fake, 1, steps, batch, lr, hidden, torch.Generator().manual_seed(seed))
        with torch.no_grad():
            d = torch.sigmoid(net(torch.tensor(x, dtype=DTYPE)[:, None]))[:, 0].numpy()
            # V(D, G) of the trained D by integration over a wide grid (the tails matter for log D)
            lo_w, hi_w = min(mu_r - 10 * sigma_r, mu_g - 10 * sigma_g), max(mu_r + 10 * sigma_r, mu_g + 10 * sigma_g)
            xw = np.linspace(lo_w, hi_w, 20_001)
            logit = net(torch.tensor(xw, dtype=DTYPE)[:, None])[:, 0]
            log_d, log_1md = F.logsigmoid(logit).numpy(), F.logsigmoid(-logit).numpy()
    lr_w, lg_w = normal_logpdf(xw, mu_r, sigma_r), normal_logpdf(xw, mu_g, sigma_g)
    value = integrate(np.exp(lr_w) * log_d + np.exp(lg_w) * log_1md, xw)
    log_m = np.logaddexp(lr_w, lg_w) - LOG2
    js_true = 0.5 * (integrate(np.exp(lr_w) * (lr_w - log_m), xw) + integrate(np.exp(lg_w) * (lg_w - log_m), xw))

    err, err_half = np.abs(d - d_star), np.abs(0.5 - d_star)
    return {
        "seed": seed,
        "settings": {"mu_r": mu_r, "sigma_r": sigma_r, "mu_g": mu_g, "sigma_g": sigma_g, "steps": steps,
                     "batch": batch, "hidden": hidden, "lr": lr, "support_fraction": support_fraction},
        "grid": x.tolist(),
        "d_trained": d.tolist(),
        "d_star": d_star.tolist(),
        "p_r": np.exp(log_pr).tolist(),
        "p_g": np.exp(log_pg).tolist(),
        "weighting": "mae_weighted: grid weights (p_R + p_G)/2, normalised; mae_restricted: plain mean where "
                     "(p_R + p_G)/2 >= support_fraction * its max; mae_all: plain mean over the grid",
        "mae_weighted": float(np.sum(weights * err)),
        "mae_restricted": float(err[inside].mean()),
        "mae_all": float(err.mean()),
        "max_abs_error_restricted": float(err[inside].max()),
        "const_half_mae_weighted": float(np.sum(weights * err_half)),
        "const_half_mae_restricted": float(err_half[inside].mean()),
        "const_half_mae_all": float(err_half.mean()),
        "restricted_interval": [float(x[inside].min()), float(x[inside].max())],
        "value_trained": value,
        "js_estimate": 0.5 * (value + 2 * LOG2),
        "js_analytic": js_true,
    }
