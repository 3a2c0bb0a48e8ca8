"""F7: the math, checked numerically; the note's typos corrected."""

from __future__ import annotations

from ganpipe.report.render import ReportInputs
from ganpipe.report.tables import table
from ganpipe.study import divergences
from ganpipe.study.claims.claim import Claim, SingleInputs, record


def single(inp: SingleInputs) -> tuple[dict, dict]:
    m = divergences.math_identities(seed=inp.params.seed)
    ev = {"kl_decomposition_error": m["kl_decomposition"]["max_abs_error"],
          "gan_value_error": max(m["gan_value_at_optimal_d"]["discrete_max_abs_error"],
                                 m["gan_value_at_optimal_d"]["gaussian_abs_error"]),
          "ml_min_kl_error": m["ml_equals_min_kl"]["discrete"]["identity_max_abs_error"],
          "ml_theta": m["ml_equals_min_kl"]["discrete"]["theta_ml"],
          "min_kl_theta": m["ml_equals_min_kl"]["discrete"]["theta_min_kl_population"],
          "printed_kl_at_p_equals_q": m["kl_printed_form"]["p_equals_q_printed"],
          "eq16_integral": m["eq16_sign"]["integral_p_r_log_pg_over_pr"], "kl_closed_form": m["eq16_sign"]["kl_closed_form"]}
    return ev, {"F7": m}


def judge(ev: dict, t: dict) -> dict:
    """ev: max errors of the identities, typos corrected."""
    tol = t["f7_tolerance"]
    return record(
        "KL = cross-entropy - entropy; maximum likelihood = minimising KL(P_R || P_G); the GAN value at "
        "the optimal D is 2 JS - 2 log 2.",
        "numeric checks on random discrete distributions and 1-D Gaussians (max absolute error)",
        ev,
        {"f7_tolerance": tol},
        {
            "kl_is_cross_entropy_minus_entropy": ev["kl_decomposition_error"] <= tol,
            "gan_value_is_2js_minus_2log2": ev["gan_value_error"] <= tol,
            "ml_is_min_kl": ev["ml_min_kl_error"] <= tol,
        },
    )


def section(f: dict, r: ReportInputs) -> list[str]:
    rows = [[t["where"], t["printed"], t["corrected"], t["printed_value"], t["correct_value"]]
            for t in r.evidence["F7"]["typos"]]
    return ["The note's typos this corrects (value as printed against the correct value, on an example):", "",
            table(["where", "printed", "corrected", "printed value", "correct value"], rows), ""]


CLAIM = Claim("F7", "The math, checked", judge, section, single=single, scope="exact: numeric identities, no training")
