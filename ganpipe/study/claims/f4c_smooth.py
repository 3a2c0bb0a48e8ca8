"""F4c: a 5x5 output kernel gives smooth digits and removes the peripheral noise completely."""

from __future__ import annotations

from ganpipe.report.render import ReportInputs
from ganpipe.study.claims.claim import Claim, record
from ganpipe.study.claims.f4_noise import head_experiments, head_validity
from ganpipe.study.evidence import HEADS, Context, Runs, heads


def evidence(runs: Runs, cond: str, seed: int, ctx: Context, step: int | None = None) -> dict:
    s, common = heads(runs, cond, seed, step)
    return {"conv5_noise_end": s["conv5"]["background_noise"][-1], "fc_noise_end": s["fc"]["background_noise"][-1],
            "conv3_noise_end": s["conv3"]["background_noise"][-1], "conv5_sharpness_end": s["conv5"]["edge_sharpness"][-1],
            "conv5_fid_end": s["conv5"]["fid"][-1], "real_noise": ctx.real["background_noise"],
            "conv5_high_band_end": s["conv5"]["high_band"][-1] / ctx.real["high_band"], **common}


def judge(ev: dict, t: dict) -> dict:
    return record(
        "A 5x5 output kernel gives smooth digits and removes the peripheral noise completely.",
        "background noise of the conv5 head at the end, against the controls' threshold and the fc head",
        ev,
        {"background_noise": t["background_noise"]},
        {"no_noise": ev["conv5_noise_end"] < t["background_noise"],
         "less_noise_than_fc": ev["conv5_noise_end"] < ev["fc_noise_end"]},
    )


def section(f: dict, r: ReportInputs) -> list[str]:
    return ["See the figures of F4.", ""]


SAID = {"less_noise_than_fc": "the 5x5 head drew less noise than the fc head", "no_noise": "it drew no noise around the digit"}

CLAIM = Claim("F4c", "5x5 conv output layer: smooth digits", judge, section, experiments=head_experiments("conv5"),
              measures=("background_noise",), lines={"conv5_noise_end": "background_noise"}, evidence=evidence, validity=head_validity("conv5", "fc"),
              map_samples=(HEADS["conv5"], HEADS["fc"]), said=SAID)
