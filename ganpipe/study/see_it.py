"""See it yourself: for each hands-on finding, the one command that trains the main model in the
setting that decided it and reads it on the main-models page, with the time it takes here.

The command sets, on params.yaml's `gan` or `wgan` group, every knob where the deciding run's
config differs from the group (`dvc exp run -S wgan.clip=1.0 ... main-models`), so it needs no
findings experiment and runs on a fresh clone. Its time is measured, not guessed: the main model's
own seconds per step on this machine (its train.json; it trained alone), scaled by the FLOPs of a
step in the new setting against the main model's (ganpipe.training.cost), times the steps.
"""

from __future__ import annotations

import json
from pathlib import Path

from ganpipe.params import cell_config
from ganpipe.study.conditions import BASE
from ganpipe.training import cost

# the experiment whose run shows each finding (in the condition that decided its headline); the clip
# sweep's by the clip it holds
PAPER_CLIP, LARGEST_CLIP = "the sweep's paper clip", "the sweep's largest clip"
SHOWN_BY = {"F1": "f1_strong_d", "F3": PAPER_CLIP, "F3b": LARGEST_CLIP, "F4": "f4_fc", "F4b": "f4_conv3",
            "F4c": "f4_conv5", "F5": "f5_upsample"}
# what the page shows for each, in a few words
LOOK = {"F1": "the GAN's samples over training, black at some snapshots, and its digits",
        "F3": "the WGAN critic's share of weights at +-clip",
        "F3b": "the WGAN's samples over training: grey pages, relief, then digits or not",
        "F4": "speckle around the GAN's digits, and its background-noise reading",
        "F4b": "soft strokes, and the GAN's edge-sharpness reading",
        "F4c": "smooth digits on a clean page",
        "F5": "the upsample generator's digits at 450 steps"}
# knobs that are not the run's setting (grid_every is: it sets the snapshots the page shows)
NOT_KNOBS = ("map", "confirm", "seeds", "model", "log_every", "checkpoint_every")


def knobs(cfg, group) -> dict:
    """Every knob of `cfg` whose value differs from the params group's."""
    main = group.model_dump()
    return {k: v for k, v in cfg.model_dump().items() if k not in NOT_KNOBS and k in main and main[k] != v}


def command(model: str, changed: dict) -> str:
    return " ".join(["dvc exp run", *(f"-S {model}.{k}={_yaml(v)}" for k, v in changed.items()), "main-models"])


def _yaml(v) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_yaml(x) for x in v) + "]"
    return f"{v:g}" if isinstance(v, float) else str(v)


def lines(params, findings: dict, clips: dict[str, float], stages: Path) -> dict[str, dict]:
    """Each hands-on finding's command, the steps it trains and its time here, by claim id (`clips`:
    the clip sweep's experiments and their clips)."""
    exps = params.findings.experiments
    sweep = {PAPER_CLIP: min(clips, key=lambda n: abs(clips[n] - 0.01)), LARGEST_CLIP: max(clips, key=clips.get)}
    rate = {m: json.loads((stages / m / "train.json").read_text())["seconds_per_step"] for m in ("gan", "wgan")}
    main_flops = {m: cost.step_flops(m, getattr(params, m)) for m in ("gan", "wgan")}
    out = {}
    for cid, shown_by in SHOWN_BY.items():
        if cid not in findings:
            continue
        name = sweep.get(shown_by, shown_by)
        decided = [n for n in findings[cid].get("decided_by", []) if n != BASE]
        condition = decided[0] if decided and findings[cid]["verdict"] != "not reproduced" else BASE
        exp = exps[name]
        cfg = cell_config(exp, exp.cells().get(condition, {}))
        model = cfg.model
        changed = knobs(cfg, getattr(params, model))
        seconds = rate[model] * cost.step_flops(model, cfg) / main_flops[model] * cfg.steps
        out[cid] = {"command": command(model, changed), "steps": cfg.steps, "seconds": round(seconds, 1),
                    "experiment": name, "condition": condition, "look": LOOK[cid]}
    return out


def said(line: dict) -> list[str]:
    """The section's closing lines."""
    minutes = line["seconds"] / 60
    return ["*See it yourself* (the main model in this setting, without the study; "
            f"{line['steps']:,} training steps, about {minutes:.0f} min here at the main model's measured speed, "
            "plus the other main models on a fresh clone); then open `stages/main_models/page.md` and look at "
            f"{line['look']}:", "", "```bash", line["command"], "```", ""]
