"""The note's claims (DESIGN section 1), each judged from measured numbers against thresholds.

Every `judge_*` function takes the evidence (plain numbers gathered by the findings stage) and
the thresholds from params.yaml, and returns one JSON-ready record:

    {"claim": ..., "measure": ..., "observed": {...}, "thresholds": {...},
     "checks": {name: bool, ...}, "verdict": "reproduced" | "not reproduced"}

The verdict is "reproduced" exactly when every check holds; the checks are comparisons of the
observed numbers with the thresholds, nothing else. Moving a threshold moves the verdict.
For the training-based claims this is one seed's record; `ganpipe.verdicts` turns the records of
all seeds, and the `validity_*` checks below, into the claim's verdict.
"""

from __future__ import annotations

import math

from ganpipe.params import Thresholds, ValidityParams
from ganpipe.verdicts import check

LOG2 = math.log(2)
SEEDED = ("F1", "F3", "F3b", "F4", "F4b", "F4c", "F5")  # training-based: judged at every seed


def record(claim: str, measure: str, observed: dict, thresholds: dict, checks: dict[str, bool]) -> dict:
    return {
        "claim": claim,
        "measure": measure,
        "observed": observed,
        "thresholds": thresholds,
        "checks": {k: bool(v) for k, v in checks.items()},
        "verdict": "reproduced" if all(checks.values()) else "not reproduced",
    }


def judge_f1(ev: dict, t: Thresholds) -> dict:
    """ev: min_d_loss, max_g_loss (the extremes of the 10-step means in history.csv: the note says D
    loss 'falls to' and G loss 'climbs to'), blank_fraction and brightness of the final samples."""
    return record(
        "A discriminator that keeps training unchecked drives D loss to ~1e-4 and G loss to ~10, "
        "and the generator emits all-black images.",
        "strong-D GAN (5 D steps per G step, D lr 50x G lr): the lowest D loss and highest G loss reached "
        "(10-step means), share of near-blank final samples, their mean brightness against real digits, FID",
        ev,
        {"f1_d_loss_max": t.f1_d_loss_max, "f1_g_loss_min": t.f1_g_loss_min, "f1_blank_min": t.f1_blank_min},
        {
            "d_loss_collapsed": ev["min_d_loss"] <= t.f1_d_loss_max,
            "g_loss_climbed": ev["max_g_loss"] >= t.f1_g_loss_min,
            "samples_blank": ev["blank_fraction"] >= t.f1_blank_min,
        },
    )


def judge_f2(ev: dict, t: Thresholds) -> dict:
    """ev: js_estimate_min/max (theta != 0), d_grad_mean_abs, critic_grad_mean_abs, w_fit_r2, plus MNIST logs."""
    gap = max(abs(ev["js_estimate_min"] - LOG2), abs(ev["js_estimate_max"] - LOG2))
    ratio = ev["d_grad_mean_abs"] / max(ev["critic_grad_mean_abs"], 1e-300)
    observed = {**ev, "js_gap_max": gap, "grad_ratio": ratio}
    return record(
        "When the supports of P_R and P_G barely overlap, JS is stuck at log 2 and the generator gets "
        "no gradient; the Wasserstein distance still tracks how far apart they are.",
        "toy (WGAN paper, example 1): P_0 = (0, Z) vs P_theta = (theta, Z): a trained D's JS estimate "
        "and its gradient in theta (saturating loss) against a clipped critic's estimate and gradient",
        observed,
        {"f2_js_gap_max": t.f2_js_gap_max, "f2_grad_ratio_max": t.f2_grad_ratio_max, "f2_w_r2_min": t.f2_w_r2_min},
        {
            "js_saturates_at_log2": gap <= t.f2_js_gap_max,
            "d_gradient_vanishes": ratio <= t.f2_grad_ratio_max,
            "critic_tracks_theta": ev["w_fit_r2"] >= t.f2_w_r2_min,
        },
    )


def judge_f2b(ev: dict, t: Thresholds) -> dict:
    return record(
        "The optimal discriminator is D*(x) = p_R(x) / (p_R(x) + p_G(x)).",
        "1-D Gaussians N(0, 1) vs N(1.5, 0.7^2): trained D against the analytic D*, mean |D - D*| "
        "weighted by the mixture density (a constant 1/2 for reference)",
        ev,
        {"f2b_mae_max": t.f2b_mae_max},
        {"d_matches_d_star": ev["mae_weighted"] <= t.f2b_mae_max,
         "beats_constant_half": ev["mae_weighted"] < ev["const_half_mae_weighted"]},
    )


def judge_f3(ev: dict, t: Thresholds) -> dict:
    """ev: clip, boundary_share (at the paper's clip), boundary_share_by_clip."""
    return record(
        "Weight clipping enforces a Lipschitz bound but works poorly: the critic's weights pile up "
        "at the clip boundary.",
        "share of critic weights within 1% of +-c after training, at the WGAN paper's clip",
        ev,
        {"f3_boundary_min": t.f3_boundary_min},
        {"weights_at_boundary": ev["boundary_share"] >= t.f3_boundary_min},
    )


def judge_f3b(ev: dict, t: Thresholds) -> dict:
    """ev: per-clip background_level and relief_score of samples, the real digits' values."""
    large, paper = ev["largest_clip"], ev["paper_clip"]
    emboss_large = ev["background_level"][large] + ev["relief_score"][large]
    emboss_paper = ev["background_level"][paper] + ev["relief_score"][paper]
    emboss_real = ev["real_background_level"] + ev["real_relief_score"]
    ratio = emboss_large / max(emboss_paper, 1e-3)
    return record(
        "A large clip value turns WGAN samples into strange embossed (relief-like) images.",
        "emboss index = background grey level + shadow/highlight relief score of samples, at the "
        "largest clip against the paper's clip (real digits: both ~0)",
        {**ev, "emboss_largest": emboss_large, "emboss_paper": emboss_paper, "emboss_real": emboss_real,
         "emboss_ratio": ratio},
        {"f3b_relief_ratio_min": t.f3b_relief_ratio_min},
        {"embossed_at_large_clip": ratio >= t.f3b_relief_ratio_min},
    )


def judge_f4(ev: dict, t: Thresholds) -> dict:
    """ev: fc peripheral energy at step ~600 and at the end, the real value."""
    ratio = ev["fc_peripheral_end"] / max(ev["real_peripheral"], 1e-6)
    fade = (ev["fc_peripheral_600"] - ev["fc_peripheral_end"]) / max(ev["fc_peripheral_600"], 1e-9)
    return record(
        "An all fully-connected generator shows digit shapes after ~600 batches, but the noise around "
        "the digit does not fade with more training.",
        "peripheral energy (mean intensity of the 4-pixel border, ~0 on real digits) of fixed-noise "
        "samples over training steps; classifier confidence at step ~600",
        {**ev, "noise_ratio_end": ratio, "fade_after_600": fade},
        {"f4_noise_ratio_min": t.f4_noise_ratio_min, "f4_fade_max": t.f4_fade_max},
        {"noise_well_above_real": ratio >= t.f4_noise_ratio_min, "noise_does_not_fade": fade <= t.f4_fade_max},
    )


def judge_f4b(ev: dict, t: Thresholds) -> dict:
    ratio = ev["conv3_midgrey_end"] / max(ev["real_midgrey"], 1e-6)
    return record(
        "A 3x3 conv output layer gives blurry digits whose blur fades very slowly.",
        "mid-grey share of ink pixels (blur) and gradient energy (sharpness) of the conv3 head over "
        "steps, relative to real digits",
        {**ev, "midgrey_ratio_end": ratio},
        {"f4b_midgrey_ratio_min": t.f4b_midgrey_ratio_min},
        {"blurrier_than_real": ratio >= t.f4b_midgrey_ratio_min},
    )


def judge_f4c(ev: dict, t: Thresholds) -> dict:
    ratio = ev["conv5_peripheral_end"] / max(ev["real_peripheral"], 1e-6)
    return record(
        "A 5x5 output kernel gives smooth digits and removes the peripheral noise completely.",
        "peripheral energy of the conv5 head at the end, against real digits and the fc head",
        {**ev, "noise_ratio_end": ratio},
        {"f4c_noise_ratio_max": t.f4c_noise_ratio_max},
        {"noise_near_real": ratio <= t.f4c_noise_ratio_max,
         "less_noise_than_fc": ev["conv5_peripheral_end"] < ev["fc_peripheral_end"]},
    )


def judge_f5(ev: dict, t: Thresholds) -> dict:
    """ev: seconds per step of upsample and conv5, FID of both at equal steps and at equal wall time."""
    slowdown = ev["upsample_seconds_per_step"] / max(ev["conv5_seconds_per_step"], 1e-9)
    return record(
        "The conv + upsample generator with two parallel output convs was needlessly complex and slow, "
        "and trained worse than the simple designs.",
        "upsample generator against the conv5 head: seconds per step, FID at equal steps and at equal "
        "wall time (FID of fixed-noise snapshots)",
        {**ev, "slowdown": slowdown},
        {"f5_slowdown_min": t.f5_slowdown_min},
        {"slower": slowdown >= t.f5_slowdown_min,
         "worse_at_equal_time": ev["upsample_fid_equal_time"] > ev["conv5_fid_equal_time"]},
    )


def judge_f6(ev: dict, t: Thresholds) -> dict:
    return record(
        "A plain autoencoder maps each code to one output and cannot generate from perturbed codes; "
        "a VAE with an N(0, I) prior and a KL term can.",
        "decode codes drawn from N(0, I): FID and classes covered (modes) of AE against VAE; classifier "
        "confidence, reconstruction error of both and the VAE's KL term alongside. (Confidence is not a "
        "check: the classifier is confidently wrong on out-of-distribution blobs, which all land in one class.)",
        ev,
        {},
        {"vae_fid_lower": ev["vae_fid"] < ev["ae_fid"], "vae_covers_more_classes": ev["vae_modes"] > ev["ae_modes"]},
    )


def judge_f7(ev: dict, t: Thresholds) -> dict:
    """ev: max errors of the identities, typos corrected."""
    return record(
        "KL = cross-entropy - entropy; maximum likelihood = minimising KL(P_R || P_G); the GAN value at "
        "the optimal D is 2 JS - 2 log 2.",
        "numeric checks on random discrete distributions and 1-D Gaussians (max absolute error)",
        ev,
        {"f7_tolerance": t.f7_tolerance},
        {
            "kl_is_cross_entropy_minus_entropy": ev["kl_decomposition_error"] <= t.f7_tolerance,
            "gan_value_is_2js_minus_2log2": ev["gan_value_error"] <= t.f7_tolerance,
            "ml_is_min_kl": ev["ml_min_kl_error"] <= t.f7_tolerance,
        },
    )


JUDGES = {"F1": judge_f1, "F2": judge_f2, "F2b": judge_f2b, "F3": judge_f3, "F3b": judge_f3b, "F4": judge_f4,
          "F4b": judge_f4b, "F4c": judge_f4c, "F5": judge_f5, "F6": judge_f6, "F7": judge_f7}


# ---- validity: what must be true of one seed's runs for its checks to mean anything


def levelled(fids: list[float], v: ValidityParams) -> dict:
    """Trained: the last `levelled_window` snapshot FIDs lie within `levelled_tolerance` of the smallest."""
    tail = [float(x) for x in fids[-v.levelled_window:]]
    spread = (max(tail) - min(tail)) / max(min(tail), 1e-9)
    return check({"last_fids": tail, "spread": spread},
                 f"last {v.levelled_window} snapshot FIDs within {v.levelled_tolerance:.0%} of the smallest",
                 len(tail) == v.levelled_window and spread <= v.levelled_tolerance)


def clip_binds(shares: dict[str, float], v: ValidityParams) -> dict:
    """The manipulation took effect: at every clip >= clip_binds_min_clip some critic weights sit at
    +-c (otherwise a large clip is the same run as no clip at all)."""
    large = {c: s for c, s in shares.items() if float(c) >= v.clip_binds_min_clip}
    return check(large, f"share of weights at +-c above {v.clip_binds_share_min:g} at every clip >= "
                 f"{v.clip_binds_min_clip:g} (and at least one such clip)",
                 bool(large) and all(s > v.clip_binds_share_min for s in large.values()))


def equal_steps(steps: dict[str, int]) -> dict:
    return check(steps, "every run compared trained for the same number of steps", len(set(steps.values())) == 1)


def validity_f1(ev: dict, v: ValidityParams) -> dict:
    return {"d_is_strong": check(ev["late_d_acc_fake"], f"D's accuracy on fakes, mean over the second half of "
                                 f"training, >= {v.strong_d_acc_fake_min:g}", ev["late_d_acc_fake"] >= v.strong_d_acc_fake_min)}


def validity_f3(ev: dict, v: ValidityParams) -> dict:
    return {"clip_binds": clip_binds(ev["boundary_share_by_clip"], v),
            "trained_at_paper_clip": levelled(ev["fid_curves"][ev["paper_clip"]], v)}


def validity_f3b(ev: dict, v: ValidityParams) -> dict:
    return {"clip_binds": clip_binds(ev["boundary_share_by_clip"], v),
            "trained_at_paper_clip": levelled(ev["fid_curves"][ev["paper_clip"]], v),
            "trained_at_largest_clip": levelled(ev["fid_curves"][ev["largest_clip"]], v)}


def validity_f4(ev: dict, v: ValidityParams, heads: tuple[str, ...]) -> dict:
    out = {f"trained_{h}": levelled(ev["fid_curves"][h], v) for h in heads}
    out["equal_steps"] = equal_steps(ev["head_steps"])
    return out


def validity_f5(ev: dict, v: ValidityParams) -> dict:
    return {"equal_steps_reached": check({"upsample": ev["upsample_steps"], "conv5": ev["conv5_last_step"]},
                                         "the conv5 run reached the upsample run's steps",
                                         ev["conv5_last_step"] >= ev["upsample_steps"])}


VALIDITY = {"F1": validity_f1, "F3": validity_f3, "F3b": validity_f3b,
            "F4": lambda ev, v: validity_f4(ev, v, ("fc",)),
            "F4b": lambda ev, v: validity_f4(ev, v, ("conv3",)),
            "F4c": lambda ev, v: validity_f4(ev, v, ("conv5", "fc")),
            "F5": validity_f5}
