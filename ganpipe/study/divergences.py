"""Divergences, exactly: the discrete and 1-D information measures of the note, and F7's checks of
its identities (KL = H(P,Q) - H(P); max likelihood = min KL(P_R||P_G); V(D*, G) = 2 JS - 2 log 2;
and the note's typos, evaluated).

Plain numpy in float64 with the convention 0 log 0 = 0; no training, nothing random but the
distributions drawn from `np.random.default_rng(seed)`. `math_identities` returns a JSON-ready
dict of Python floats; claims/f7_math.py judges it. The trained toys of F2 and F2b, which use
the same measures, are in toy.py.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.special import logsumexp, xlogy

LOG2 = math.log(2.0)

# ----------------------------------------------------------------------------------------------
# discrete information measures (numpy, float64, with the convention 0 log 0 = 0)


def entropy(p: np.ndarray) -> float:
    """H(P) = -sum P log P, in nats."""
    return float(-np.sum(xlogy(p, p)))


def cross_entropy(p: np.ndarray, q: np.ndarray) -> float:
    """H(P, Q) = -sum P log Q, in nats."""
    return float(-np.sum(xlogy(p, q)))


def kl(p: np.ndarray, q: np.ndarray) -> float:
    """D_KL(P||Q) = sum P log(P/Q), computed directly (not through the entropies, which we test it against)."""
    mask = p > 0
    return float(np.sum(p[mask] * np.log(p[mask] / q[mask])))


def js(p: np.ndarray, q: np.ndarray) -> float:
    """D_JS(P||Q) = KL(P||M)/2 + KL(Q||M)/2 with M = (P+Q)/2; at most log 2, reached for disjoint supports."""
    m = 0.5 * (p + q)
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def optimal_d(p_r: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """D*(x) = p_R / (p_R + p_G); 1/2 where both are zero (any value is optimal there: it carries no mass)."""
    total = p_r + p_g
    return np.divide(p_r, total, out=np.full_like(total, 0.5), where=total > 0)


def gan_value(p_r: np.ndarray, p_g: np.ndarray, d: np.ndarray) -> float:
    """V(D, G) = sum p_R log D + sum p_G log(1 - D), the quantity D maximises (note eq. 19)."""
    return float(np.sum(xlogy(p_r, d)) + np.sum(xlogy(p_g, 1.0 - d)))


# ----------------------------------------------------------------------------------------------
# 1-D densities on a grid (integrals by the trapezoidal rule)


def normal_logpdf(x: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def kl_normal(mu_p: float, s_p: float, mu_q: float, s_q: float) -> float:
    """Closed form D_KL(N(mu_p, s_p^2) || N(mu_q, s_q^2)), the reference for the numerical integrals."""
    return math.log(s_q / s_p) + (s_p**2 + (mu_p - mu_q) ** 2) / (2 * s_q**2) - 0.5


def integrate(y: np.ndarray, x: np.ndarray) -> float:
    return float(np.trapezoid(y, x))


def _mixture_logpdf(x: np.ndarray, weights: Sequence[float], mus: Sequence[float], sigmas: Sequence[float]):
    parts = [math.log(w) + normal_logpdf(x, m, s) for w, m, s in zip(weights, mus, sigmas)]
    return logsumexp(np.stack(parts), axis=0)


# ----------------------------------------------------------------------------------------------
# F7: the math identities, and the note's typos


def _kl_checks(rng: np.random.Generator, n_pairs: int, k: int) -> tuple[dict, dict]:
    """KL = H(P,Q) - H(P) on random pairs, and the note's printed KL (no log) against the true one."""
    pairs = [(rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))) for _ in range(n_pairs)]
    errors = [abs(kl(p, q) - (cross_entropy(p, q) - entropy(p))) for p, q in pairs]
    # The note's eq. (6) prints sum P * P/Q. It equals 1 + chi^2(P||Q): a divergence-like number,
    # but not KL, and it is 1 (not 0) when P = Q.
    printed = [float(np.sum(p * p / q)) for p, q in pairs]
    true = [kl(p, q) for p, q in pairs]
    p_uniform = np.full(k, 1.0 / k)
    decomposition = {"max_abs_error": float(max(errors)), "n_pairs": n_pairs, "n_categories": k}
    printed_form = {
        "p_equals_q_printed": float(np.sum(p_uniform * p_uniform / p_uniform)),
        "p_equals_q_true": kl(p_uniform, p_uniform),
        "random_pairs_min_abs_difference": float(min(abs(a - b) for a, b in zip(printed, true))),
        "random_pairs_max_abs_printed_minus_one_minus_chi2": float(
            max(abs(a - 1.0 - float(np.sum((p - q) ** 2 / q))) for a, (p, q) in zip(printed, pairs))
        ),
    }
    return decomposition, printed_form


def _gan_value_checks(rng: np.random.Generator, n_pairs: int, k: int, n_perturb: int) -> dict:
    """V(D*, G) = 2 JS - 2 log 2 on discrete pairs, disjoint supports and two 1-D Gaussians.

    JS is computed from its definition (KL to the mixture), V from the discriminator's value
    function at D* = p_R/(p_R+p_G); they are different formulas, so agreement is a real check.
    We also perturb D* at random and record the largest gain in V: D* being the maximiser means
    that gain is <= 0.
    """
    errors, gains = [], []
    for _ in range(n_pairs):
        p_r, p_g = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
        d_star = optimal_d(p_r, p_g)
        v_star = gan_value(p_r, p_g, d_star)
        errors.append(abs(v_star - (2 * js(p_r, p_g) - 2 * LOG2)))
        for _ in range(n_perturb):
            d = np.clip(d_star + rng.normal(0.0, 0.05, size=k), 1e-6, 1 - 1e-6)
            gains.append(gan_value(p_r, p_g, d) - v_star)

    # Disjoint supports: D* is 1 on P_R's support and 0 on P_G's, so V = 0 and JS = log 2 exactly.
    p_r = np.r_[rng.dirichlet(np.ones(k // 2)), np.zeros(k - k // 2)]
    p_g = np.r_[np.zeros(k // 2), rng.dirichlet(np.ones(k - k // 2))]
    disjoint_value = gan_value(p_r, p_g, optimal_d(p_r, p_g))

    # 1-D Gaussians N(0,1) vs N(1.5,0.7) on a fine grid; D* via log densities so the tails don't underflow.
    x = np.linspace(-15.0, 15.0, 60_001)
    lr, lg = normal_logpdf(x, 0.0, 1.0), normal_logpdf(x, 1.5, 0.7)
    pr, pg = np.exp(lr), np.exp(lg)
    log_d = lr - np.logaddexp(lr, lg)  # log D*
    log_1md = lg - np.logaddexp(lr, lg)  # log(1 - D*)
    v_gauss = integrate(pr * log_d + pg * log_1md, x)
    log_m = np.logaddexp(lr, lg) - LOG2
    js_gauss = 0.5 * integrate(pr * (lr - log_m), x) + 0.5 * integrate(pg * (lg - log_m), x)
    return {
        "discrete_max_abs_error": float(max(errors)),
        "discrete_max_gain_of_perturbed_d": float(max(gains)),
        "disjoint_value_at_dstar": disjoint_value,
        "disjoint_js": js(p_r, p_g),
        "gaussian_value_at_dstar": v_gauss,
        "gaussian_two_js_minus_two_log2": 2 * js_gauss - 2 * LOG2,
        "gaussian_abs_error": abs(v_gauss - (2 * js_gauss - 2 * LOG2)),
        "gaussian_js": js_gauss,
    }


def _ml_equals_min_kl(rng: np.random.Generator, k: int, n_samples: int, theta_step: float) -> dict:
    """Maximum likelihood on samples of P_R picks the same theta as minimising KL(P_R||P_G(theta)).

    Two misspecified one-parameter families (P_R is not in the family, so the answer is not
    trivially "the true parameter"):
    - discrete: P_G(k|theta) proportional to exp(-(k - theta)^2 / 2) over k categories, P_R random.
      On the sample the identity is exact: mean log P_G(x_i) = -KL(P_hat||P_G) - H(P_hat), with
      P_hat the empirical distribution; against the population P_R it holds up to sampling error.
    - 1-D: P_R = 0.3 N(-1, 0.5^2) + 0.7 N(1.5, 0.8^2), P_G = N(theta, 1). KL(P_R||P_G) is integrated
      numerically; its minimiser is E_R[x] = 0.75 in closed form.
    Both argmins are taken on the same theta grid, so they can agree at most to one grid step.
    """
    # discrete family
    p_r = rng.dirichlet(np.ones(k))
    counts = np.bincount(rng.choice(k, size=n_samples, p=p_r), minlength=k)
    p_hat = counts / n_samples
    thetas = np.arange(-1.0, k + theta_step / 2, theta_step)
    cats = np.arange(k)
    log_pg = -0.5 * (cats[None, :] - thetas[:, None]) ** 2
    log_pg -= logsumexp(log_pg, axis=1, keepdims=True)
    # sum_i log P_G(x_i) = sum_k counts_k log P_G(k): grouping equal samples, not an approximation
    mean_loglik = log_pg @ counts / n_samples
    kl_hat = np.array([kl(p_hat, np.exp(row)) for row in log_pg])
    kl_pop = np.array([kl(p_r, np.exp(row)) for row in log_pg])
    identity = np.abs(mean_loglik + kl_hat + entropy(p_hat))
    discrete = {
        "identity_max_abs_error": float(identity.max()),
        "theta_ml": float(thetas[np.argmax(mean_loglik)]),
        "theta_min_kl_sample": float(thetas[np.argmin(kl_hat)]),
        "theta_min_kl_population": float(thetas[np.argmin(kl_pop)]),
        "grid_step": theta_step,
        "n_samples": n_samples,
    }

    # 1-D Gaussian family against a two-component mixture
    w, mus, sigmas = (0.3, 0.7), (-1.0, 1.5), (0.5, 0.8)
    comp = rng.choice(2, size=n_samples, p=w)
    samples = rng.normal(np.take(mus, comp), np.take(sigmas, comp))
    thetas = np.arange(-1.0, 2.0 + theta_step / 2, theta_step)
    # mean log N(x_i; theta, 1) expanded through the sample's first two moments (exact algebra)
    m1, m2 = samples.mean(), (samples**2).mean()
    mean_loglik = -0.5 * (m2 - 2 * thetas * m1 + thetas**2) - 0.5 * math.log(2 * math.pi)
    x = np.linspace(-10.0, 10.0, 20_001)
    log_pr = _mixture_logpdf(x, w, mus, sigmas)
    pr = np.exp(log_pr)
    kl_pop = np.array([integrate(pr * (log_pr - normal_logpdf(x, t, 1.0)), x) for t in thetas])
    gaussian = {
        "theta_ml": float(thetas[np.argmax(mean_loglik)]),
        "theta_min_kl": float(thetas[np.argmin(kl_pop)]),
        "theta_closed_form": float(np.dot(w, mus)),
        "min_kl": float(kl_pop.min()),
        "grid_step": theta_step,
        "n_samples": n_samples,
    }
    return {"discrete": discrete, "gaussian": gaussian}


def _typos(k: int) -> list[dict]:
    """The note's formulas that are wrong as printed, each evaluated both ways on a case that tells them apart."""
    p = np.full(k, 1.0 / k)
    # eq. (16) on two Gaussians: the note equates int P_R log(P_G/P_R) with +KL(P_R||P_G)
    x = np.linspace(-15.0, 15.0, 60_001)
    lr, lg = normal_logpdf(x, 0.0, 1.0), normal_logpdf(x, 1.5, 0.7)
    eq16_integral = integrate(np.exp(lr) * (lg - lr), x)
    return [
        {
            "where": "eq. (6), section KL散度",
            "printed": "D_KL(P||Q) = sum P(x) log(1/Q(x)) - sum P(x) log(1/P(x)) = sum P(x) P(x)/Q(x)",
            "corrected": "D_KL(P||Q) = sum P(x) log(P(x)/Q(x))  (the log is missing; sum P^2/Q = 1 + chi^2(P||Q))",
            "example": f"P = Q = uniform on {k} categories",
            "printed_value": float(np.sum(p * p / p)),
            "correct_value": kl(p, p),
        },
        {
            "where": "eq. (8), section 交叉熵与KL散度的关系",
            "printed": "D_KL(P||Q) = H_c - sum P(x) log P(x)   (= H(P,Q) + H(P))",
            "corrected": "D_KL(P||Q) = H_c + sum P(x) log P(x) = H(P,Q) - H(P)  (as eq. (6) itself says)",
            "example": f"P = Q = uniform on {k} categories",
            "printed_value": cross_entropy(p, p) - float(np.sum(xlogy(p, p))),
            "correct_value": cross_entropy(p, p) + float(np.sum(xlogy(p, p))),
        },
        {
            "where": "eq. (16), section GAN在优化什么",
            "printed": "int P_R log P_G - int P_R log P_R = int P_R log(P_G/P_R) = D_KL(P_R||P_G)",
            "corrected": "int P_R log(P_G/P_R) = -D_KL(P_R||P_G), "
            "so maximising the likelihood minimises D_KL(P_R||P_G)",
            "example": "P_R = N(0, 1), P_G = N(1.5, 0.7^2); value of int P_R log(P_G/P_R) vs closed-form KL",
            "printed_value": eq16_integral,
            "correct_value": kl_normal(0.0, 1.0, 1.5, 0.7),
        },
    ]


def math_identities(
    seed: int = 0, n_pairs: int = 50, n_categories: int = 8, n_samples: int = 200_000, theta_step: float = 0.02
) -> dict:
    """F7: numeric checks of the note's identities, plus its typos evaluated as printed and corrected.

    Returns numbers only (errors, argmins, values); the findings stage decides with a tolerance.
    Keys: kl_decomposition, kl_printed_form, gan_value_at_optimal_d, ml_equals_min_kl,
    eq16_sign (int P_R log(P_G/P_R), and -KL for comparison), typos.
    """
    rng = np.random.default_rng(seed)
    decomposition, printed_form = _kl_checks(rng, n_pairs, n_categories)
    gan = _gan_value_checks(rng, n_pairs, n_categories, n_perturb=20)
    ml = _ml_equals_min_kl(rng, n_categories, n_samples, theta_step)
    typos = _typos(n_categories)
    eq16 = typos[2]
    return {
        "seed": seed,
        "kl_decomposition": decomposition,
        "kl_printed_form": printed_form,
        "gan_value_at_optimal_d": gan,
        "ml_equals_min_kl": ml,
        "eq16_sign": {
            "integral_p_r_log_pg_over_pr": eq16["printed_value"],
            "kl_closed_form": eq16["correct_value"],
            "abs_error_vs_minus_kl": abs(eq16["printed_value"] + eq16["correct_value"]),
        },
        "typos": typos,
    }
