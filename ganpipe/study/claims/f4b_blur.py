"""F4b: a 3x3 conv output layer gives blurry digits whose blur fades very slowly."""

from __future__ import annotations

from ganpipe.report.render import ReportInputs
from ganpipe.study.claims.claim import Claim, record
from ganpipe.study.claims.f4_noise import head_experiments, head_validity
from ganpipe.study.evidence import HEADS, Context, Runs, heads


def evidence(runs: Runs, cond: str, seed: int, ctx: Context, step: int | None = None) -> dict:
    s, common = heads(runs, cond, seed, step)
    c3 = s["conv3"]
    return {"conv3_sharpness_end": c3["edge_sharpness"][-1], "conv3_sharpness_first": c3["edge_sharpness"][0],
            "conv5_sharpness_end": s["conv5"]["edge_sharpness"][-1], "fc_sharpness_end": s["fc"]["edge_sharpness"][-1],
            "conv3_fid_end": c3["fid"][-1], "real_sharpness": ctx.real["edge_sharpness"],
            "conv3_high_band_first": c3["high_band"][0] / ctx.real["high_band"],
            "conv3_high_band_end": c3["high_band"][-1] / ctx.real["high_band"], **common}


def judge(ev: dict, t: dict) -> dict:
    return record(
        "A 3x3 conv output layer gives blurry digits whose blur fades very slowly.",
        "edge sharpness (gradient energy over intensity variance: contrast-free) of the conv3 head's samples "
        "at the end, against the controls' threshold and the real digits",
        ev,
        {"edge_sharpness": t["edge_sharpness"]},
        {"blurred_at_end": ev["conv3_sharpness_end"] <= t["edge_sharpness"]},
    )


def section(f: dict, r: ReportInputs) -> list[str]:
    return ["See the figures of F4.", ""]


SAID = {"blurred_at_end": "the 3x3 head's samples were blurred"}

CLAIM = Claim("F4b", "3x3 conv output layer: blur", judge, section, experiments=head_experiments("conv3"),
              measures=("edge_sharpness",), lines={"conv3_sharpness_end": "edge_sharpness"}, evidence=evidence, validity=head_validity("conv3"),
              map_samples=(HEADS["conv3"],), said=SAID)
