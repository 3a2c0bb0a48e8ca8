"""Evidence for the training-based claims: each run's outputs, their scores and snapshot
measures, and for each claim the plain numbers its judge and validity checks read, at one
condition and one seed (`EVIDENCE[claim](runs, condition, seed, real, sweep, clips)`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ganpipe import conditions, metrics
from ganpipe.classifier import FeatureClassifier
from ganpipe.evaluation import Reference
from ganpipe.files import InputError, load_npz, load_torch

# The experiments each finding reads (keys of findings.experiments); the F3 sweep is every
# experiment whose name starts with "f3_clip". A claim's conditions are those of the first
# experiment it reads; the others must have run the same conditions.
ROLES = {"F1": "f1_strong_d", "F4": "f4_fc", "F4b": "f4_conv3", "F4c": "f4_conv5", "F5": "f5_upsample"}
HEADS = {"fc": "f4_fc", "conv3": "f4_conv3", "conv5": "f4_conv5"}
SWEEP_PREFIX = "f3_clip"
PAPER_CLIP = 0.01
TAIL_STEPS = 50  # "final" losses: mean over the last TAIL_STEPS training steps, whatever log_every is


def read_history(path: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (run the training stage first)") from None
    return {c: frame[c].to_numpy() for c in frame.columns}


class Run:
    """One trained run's outputs (a training stage or a findings experiment)."""

    def __init__(self, folder: Path):
        self.folder = folder
        if not (folder / "train.json").exists():
            raise InputError(f"{folder}: no finished run here (run `dvc repro` for its experiment stage first)")
        self.history = read_history(folder / "history.csv")
        snaps = load_npz(folder / "snapshots.npz", required=("steps", "images"))
        self.snapshot_steps, self.snapshots = snaps["steps"], snaps["images"]
        self.samples = load_npz(folder / "samples.npz", required=("images",))["images"]
        self.timing = json.loads((folder / "train.json").read_text())

    def final(self, key: str) -> float:
        """Mean of `key` over the history rows of the last TAIL_STEPS steps (each row is the mean
        of its log_every steps; at least the last row)."""
        steps = self.history["step"]
        tail = steps > steps[-1] - TAIL_STEPS
        return float(np.mean(self.history[key][tail]))


def snapshot_series(run: Run, clf: FeatureClassifier, real_feats: np.ndarray) -> dict[str, list]:
    """Measures of the fixed-noise snapshots at each grid step: how a run's samples evolve."""
    n = min(len(real_feats), run.snapshots.shape[1])
    series: dict[str, list] = {"step": run.snapshot_steps.tolist(), "fid": [], "confidence": []}
    for images in run.snapshots:
        feats, probs = clf.embed(images[:n])
        series["fid"].append(metrics.fid(real_feats[:n], feats))
        series["confidence"].append(float(probs.max(1).mean()))
        for name, value in metrics.artifact_measures(images[:n]).items():
            series.setdefault(name, []).append(value)
    return series


def weight_histogram(critic_state: dict, clip: float, bins: int = 41) -> dict:
    w = np.concatenate([v.numpy().ravel() for k, v in critic_state.items() if k.endswith("weight")])
    counts, edges = np.histogram(w / clip, bins=bins, range=(-1.0, 1.0))
    return {"edges": edges.tolist(), "counts": counts.tolist(),
            "boundary_share": float((np.abs(w) >= 0.99 * clip).mean())}


class Runs:
    """Every run of the findings experiments, loaded once, with its scores and snapshot measures."""

    def __init__(self, stages: Path, clf: FeatureClassifier, reference: Reference, real_snap_feats: np.ndarray):
        self.stages, self.clf, self.reference, self.real_snap_feats = stages, clf, reference, real_snap_feats
        self._runs: dict[tuple, Run] = {}
        self._scores: dict[tuple, dict] = {}
        self._series: dict[tuple, dict] = {}
        self._histograms: dict[tuple, dict] = {}

    def run(self, name: str, condition: str, seed: int) -> Run:
        key = (name, condition, seed)
        if key not in self._runs:
            self._runs[key] = Run(conditions.run_folder(self.stages / "experiments" / name, condition, seed))
        return self._runs[key]

    def score(self, name: str, condition: str, seed: int) -> dict:
        key = (name, condition, seed)
        if key not in self._scores:
            samples = self.run(*key).samples
            if len(samples) < self.reference.n:
                raise InputError(f"{self.run(*key).folder}/samples.npz: {len(samples)} images, the findings score {self.reference.n}")
            self._scores[key] = self.reference.score(samples[: self.reference.n])
        return self._scores[key]

    def series(self, name: str, condition: str, seed: int) -> dict:
        key = (name, condition, seed)
        if key not in self._series:
            self._series[key] = snapshot_series(self.run(*key), self.clf, self.real_snap_feats)
        return self._series[key]

    def histogram(self, name: str, condition: str, seed: int, clip: float) -> dict:
        """The run's critic weights over [-c, c] and its share at the boundary (a WGAN with clipping)."""
        key = (name, condition, seed)
        if key not in self._histograms:
            self._histograms[key] = weight_histogram(load_torch(self.run(*key).folder / "critic.pt"), clip)
        return self._histograms[key]


def at(s: dict, key: str, step: int) -> float:
    """The value of `key` at the snapshot closest to `step`."""
    i = int(np.argmin(np.abs(np.array(s["step"]) - step)))
    return float(s[key][i])


def late_mean(run: Run, key: str) -> float:
    """Mean of `key` over the second half of training."""
    steps = run.history["step"]
    return float(np.mean(run.history[key][steps > steps[-1] / 2]))


# ---- one claim's evidence at one condition and one seed: plain numbers for its judge and validity


def evidence_f1(runs: Runs, cond: str, seed: int, real: dict, sweep: list[str], clips: dict) -> dict:
    name = ROLES["F1"]
    r, score = runs.run(name, cond, seed), runs.score(name, cond, seed)
    return {"min_d_loss": float(r.history["d_loss"].min()), "max_g_loss": float(r.history["g_loss"].max()),
            "final_d_loss": r.final("d_loss"), "final_g_loss": r.final("g_loss"),
            "blank_fraction": score["blank_fraction"], "brightness": score["brightness"],
            "real_brightness": real["brightness"], "fid": score["fid"],
            "final_js_estimate": r.final("js_estimate"), "final_d_acc_fake": r.final("d_acc_fake"),
            "late_d_acc_fake": late_mean(r, "d_acc_fake")}


def _sweep(runs: Runs, cond: str, seed: int, sweep: list[str], clips: dict) -> tuple[dict, str, str]:
    shares = {}
    for name in sweep:
        shares[str(clips[name])] = runs.histogram(name, cond, seed, clips[name])["boundary_share"]
    paper = min(sweep, key=lambda name: abs(np.log(clips[name] / PAPER_CLIP)))
    largest = max(sweep, key=lambda name: clips[name])
    return shares, paper, largest


def evidence_f3(runs: Runs, cond: str, seed: int, real: dict, sweep: list[str], clips: dict) -> dict:
    shares, paper, largest = _sweep(runs, cond, seed, sweep, clips)
    return {"experiment": paper, "clip": clips[paper], "boundary_share": shares[str(clips[paper])],
            "boundary_share_by_clip": shares, "paper_clip": str(clips[paper]), "largest_clip": str(clips[largest]),
            "fid_curves": {str(clips[n]): runs.series(n, cond, seed)["fid"] for n in sweep}}


def evidence_f3b(runs: Runs, cond: str, seed: int, real: dict, sweep: list[str], clips: dict) -> dict:
    shares, paper, largest = _sweep(runs, cond, seed, sweep, clips)
    scores = {str(clips[n]): runs.score(n, cond, seed) for n in sweep}
    return {"paper_clip": str(clips[paper]), "largest_clip": str(clips[largest]),
            "background_level": {c: s["background_level"] for c, s in scores.items()},
            "relief_score": {c: s["relief_score"] for c, s in scores.items()},
            "fid": {c: s["fid"] for c, s in scores.items()},
            "real_background_level": real["background_level"], "real_relief_score": real["relief_score"],
            "boundary_share_by_clip": shares,
            "fid_curves": {str(clips[n]): runs.series(n, cond, seed)["fid"] for n in sweep}}


def _heads(runs: Runs, cond: str, seed: int) -> tuple[dict, dict]:
    series = {h: runs.series(name, cond, seed) for h, name in HEADS.items()}
    common = {"fid_curves": {h: s["fid"] for h, s in series.items()},
              "head_steps": {h: runs.run(name, cond, seed).timing["steps"] for h, name in HEADS.items()}}
    return series, common


def evidence_f4(runs: Runs, cond: str, seed: int, real: dict, sweep: list[str], clips: dict) -> dict:
    s, common = _heads(runs, cond, seed)
    fc = s["fc"]
    return {"fc_peripheral_600": at(fc, "peripheral_energy", 600), "fc_peripheral_end": fc["peripheral_energy"][-1],
            "fc_confidence_600": at(fc, "confidence", 600), "fc_fid_600": at(fc, "fid", 600), "fc_fid_end": fc["fid"][-1],
            "snapshot_step_used": int(fc["step"][int(np.argmin(np.abs(np.array(fc["step"]) - 600)))]),
            "end_step": int(fc["step"][-1]), "real_peripheral": real["peripheral_energy"], **common}


def evidence_f4b(runs: Runs, cond: str, seed: int, real: dict, sweep: list[str], clips: dict) -> dict:
    s, common = _heads(runs, cond, seed)
    c3 = s["conv3"]
    return {"conv3_midgrey_end": c3["midgrey_share"][-1], "conv3_midgrey_first": c3["midgrey_share"][0],
            "conv3_gradient_energy_end": c3["gradient_energy"][-1], "conv5_midgrey_end": s["conv5"]["midgrey_share"][-1],
            "fc_midgrey_end": s["fc"]["midgrey_share"][-1], "conv3_fid_end": c3["fid"][-1],
            "real_midgrey": real["midgrey_share"], "real_gradient_energy": real["gradient_energy"], **common}


def evidence_f4c(runs: Runs, cond: str, seed: int, real: dict, sweep: list[str], clips: dict) -> dict:
    s, common = _heads(runs, cond, seed)
    return {"conv5_peripheral_end": s["conv5"]["peripheral_energy"][-1], "fc_peripheral_end": s["fc"]["peripheral_energy"][-1],
            "conv3_peripheral_end": s["conv3"]["peripheral_energy"][-1], "conv5_midgrey_end": s["conv5"]["midgrey_share"][-1],
            "conv5_fid_end": s["conv5"]["fid"][-1], "real_peripheral": real["peripheral_energy"], **common}


def evidence_f5(runs: Runs, cond: str, seed: int, real: dict, sweep: list[str], clips: dict) -> dict:
    """The upsample generator against the conv5 head (its base condition, same seed), at equal steps
    and equal wall time. Both ran as one-thread processes beside their experiment's other seeds."""
    up, c5run = runs.run(ROLES["F5"], cond, seed), runs.run(HEADS["conv5"], conditions.BASE, seed)
    up_s, c5 = runs.series(ROLES["F5"], cond, seed), runs.series(HEADS["conv5"], conditions.BASE, seed)
    up_sps, c5_sps = up.timing["seconds_per_step"], c5run.timing["seconds_per_step"]
    up_steps = int(up_s["step"][-1])
    budget = up_steps * up_sps
    c5_steps = np.array(c5["step"])
    equal_time = c5_steps[c5_steps * c5_sps <= budget]
    equal_time_step = int(equal_time[-1]) if len(equal_time) else int(c5_steps[0])
    return {"upsample_seconds_per_step": up_sps, "conv5_seconds_per_step": c5_sps,
            "upsample_steps": up_steps, "conv5_last_step": int(c5_steps[-1]),
            "upsample_fid_equal_steps": up_s["fid"][-1], "conv5_fid_equal_steps": at(c5, "fid", up_steps),
            "equal_time_seconds": budget, "conv5_step_at_equal_time": equal_time_step,
            "upsample_fid_equal_time": up_s["fid"][-1], "conv5_fid_equal_time": at(c5, "fid", equal_time_step)}


EVIDENCE = {"F1": evidence_f1, "F3": evidence_f3, "F3b": evidence_f3b, "F4": evidence_f4, "F4b": evidence_f4b,
            "F4c": evidence_f4c, "F5": evidence_f5}


