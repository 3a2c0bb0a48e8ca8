"""F2b: the optimal discriminator is D*(x) = p_R(x) / (p_R(x) + p_G(x))."""

from __future__ import annotations

import numpy as np

from ganpipe.report.render import ReportInputs
from ganpipe.report.tables import fmt
from ganpipe.study import toy
from ganpipe.study.claims.claim import Claim, SingleInputs, record


def single(inp: SingleInputs) -> tuple[dict, dict]:
    dstar = toy.optimal_discriminator(seed=inp.params.seed, steps=inp.params.findings.toy.d_star_steps)
    ev = {k: dstar[k] for k in ("mae_weighted", "mae_restricted", "max_abs_error_restricted",
                                "const_half_mae_weighted", "js_estimate", "js_analytic")}
    return ev, {"F2b": dstar}


def judge(ev: dict, t: dict) -> dict:
    return record(
        "The optimal discriminator is D*(x) = p_R(x) / (p_R(x) + p_G(x)).",
        "1-D Gaussians N(0, 1) vs N(1.5, 0.7^2): trained D against the analytic D*, mean |D - D*| "
        "weighted by the mixture density (a constant 1/2 for reference)",
        ev,
        {"f2b_mae_max": t["f2b_mae_max"]},
        {"d_matches_d_star": ev["mae_weighted"] <= t["f2b_mae_max"],
         "beats_constant_half": ev["mae_weighted"] < ev["const_half_mae_weighted"]},
    )


def section(f: dict, r: ReportInputs) -> list[str]:
    o, d = f["observed"], r.evidence["F2b"]
    fig, ax = r.plt.subplots(figsize=(6, 3))
    ax.plot(d["grid"], d["d_star"], "k-", label="D* = p_R / (p_R + p_G)")
    ax.plot(d["grid"], d["d_trained"], "--", label="trained D")
    ax.fill_between(d["grid"], 0, np.array(d["p_r"]) / max(d["p_r"]), alpha=0.15, label="p_R (scaled)")
    ax.fill_between(d["grid"], 0, np.array(d["p_g"]) / max(d["p_g"]), alpha=0.15, label="p_G (scaled)")
    ax.set_xlabel("x"), ax.legend(fontsize=7)
    path = r.figs.add("f2b_optimal_d.png", fig)
    return [f"![F2b]({path})", "", f"Density-weighted mean |D - D*| = {fmt(o['mae_weighted'])} "
            f"(a constant 1/2 scores {fmt(o['const_half_mae_weighted'])}).", ""]


CLAIM = Claim("F2b", "The optimal discriminator", judge, section, single=single,
              scope="one run: a 1-D toy against the analytic D*")
