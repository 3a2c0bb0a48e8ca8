"""Stage findings: gather the evidence for each claim, judge it, write stages/findings/.

Inputs: the toy experiments (run here: seconds), the findings experiments under
stages/experiments/ (F1, F3/F3b, F4/F4b/F4c, F5), the main GAN's logs (F2 on MNIST) and the main
AE and VAE (F6). The main WGAN is not an input, so `-S wgan.clip=...` does not re-run this stage. Outputs: findings.json (one record per claim, see ganpipe.findings) and
evidence.json (the curves and tables the report draws).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ganpipe import findings, metrics, toy
from ganpipe.classifier import FeatureClassifier, load_classifier
from ganpipe.data import load_split
from ganpipe.evaluation import Reference, equal_n
from ganpipe.files import InputError, load_npz, load_torch, write_json
from ganpipe.params import Params, ParamsError
from ganpipe.tracking import stage_run

# The experiments each finding reads (keys of findings.experiments); the F3 sweep is every
# experiment whose name starts with "f3_clip".
ROLES = {"F1": "f1_strong_d", "F4": "f4_fc", "F4b": "f4_conv3", "F4c": "f4_conv5", "F5": "f5_upsample"}
SWEEP_PREFIX = "f3_clip"
PAPER_CLIP = 0.01
TAIL_STEPS = 50  # "final" losses: mean over the last TAIL_STEPS training steps, whatever log_every is


def check_experiments(params: Params) -> list[str]:
    """The findings experiments this stage needs, or a ParamsError naming the missing one."""
    exps = params.findings.experiments
    for claim, name in ROLES.items():
        if name not in exps:
            raise ParamsError(f"findings.experiments.{name} is missing: claim {claim} is measured on it")
    sweep = sorted(n for n in exps if n.startswith(SWEEP_PREFIX))
    bad = [n for n in sweep if exps[n].model != "wgan" or exps[n].constraint != "clip"]
    if len(sweep) < 2 or bad:
        raise ParamsError(f"findings.experiments: the F3 clip sweep needs at least two wgan/clip experiments "
                          f"named {SWEEP_PREFIX}*; found {sweep} (not wgan/clip: {bad})")
    return sweep


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


def gather(params: Params, stages: Path, data_path: Path, classifier_path: Path) -> tuple[dict, dict]:
    """Evidence per claim, and the curves/tables for the report."""
    sweep = check_experiments(params)
    exps = params.findings.experiments
    clf = load_classifier(classifier_path)
    train, test = load_split(data_path, "train"), load_split(data_path, "test")
    real = metrics.artifact_measures(test.images)
    snap_n = min(params.findings.fid_snapshot_n, len(test.images))
    real_snap_feats, _ = clf.embed(test.images[:snap_n])

    runs = {name: Run(stages / "experiments" / name) for name in exps}
    n = equal_n(params.evaluate.n_samples, len(test.images), len(train.images), *(len(r.samples) for r in runs.values()))
    reference = Reference(clf, test.images[:n], k=params.evaluate.k)
    scores = {name: reference.score(r.samples[:n]) for name, r in runs.items()}
    series = {name: snapshot_series(r, clf, real_snap_feats) for name, r in runs.items()}
    cfg = {name: exps[name].model_dump(mode="json") for name in exps}
    evidence: dict = {"n": n, "snapshot_n": snap_n, "real": real, "scores": scores, "series": series,
                      "configs": cfg, "timing": {name: r.timing for name, r in runs.items()}}
    ev: dict = {}

    # F1: the strong discriminator
    f1 = runs[ROLES["F1"]]
    ev["F1"] = {"experiment": ROLES["F1"], "min_d_loss": float(f1.history["d_loss"].min()),
                "max_g_loss": float(f1.history["g_loss"].max()),
                "final_d_loss": f1.final("d_loss"), "final_g_loss": f1.final("g_loss"),
                "blank_fraction": scores[ROLES["F1"]]["blank_fraction"], "brightness": scores[ROLES["F1"]]["brightness"],
                "real_brightness": real["brightness"], "fid": scores[ROLES["F1"]]["fid"],
                "final_js_estimate": f1.final("js_estimate"), "final_d_acc_fake": f1.final("d_acc_fake")}
    evidence["F1_history"] = {k: f1.history[k].tolist() for k in ("step", "d_loss", "g_loss", "js_estimate",
                                                                 "g_grad_norm_saturating", "g_grad_norm_nonsaturating")}

    # F2: the toy, and what the main GAN's and the strong-D GAN's logs show on MNIST
    tp = params.findings.toy
    disjoint = toy.disjoint_supports(thetas=np.linspace(-1, 1, tp.thetas).tolist(), seed=params.seed, steps=tp.steps,
                                     clip=tp.clip)
    gan = Run(stages / "gan")
    mnist = {}
    for label, r in (("main_gan", gan), ("strong_d_gan", f1)):
        mnist[label] = {k: r.final(k) for k in ("js_estimate", "d_acc_real", "d_acc_fake", "g_grad_norm_saturating",
                                                "g_grad_norm_nonsaturating")}
    ev["F2"] = {k: disjoint[k] for k in ("js_estimate_min", "js_estimate_max", "d_grad_mean_abs", "d_grad_nonsat_mean_abs",
                                         "critic_grad_mean_abs", "w_fit_slope", "w_fit_r2")} | {"mnist": mnist}
    evidence["F2_toy"] = disjoint
    evidence["F2_mnist"] = {"main_gan": {k: gan.history[k].tolist() for k in ("step", "js_estimate", "d_acc_real",
                                                                             "d_acc_fake", "g_grad_norm_saturating",
                                                                             "g_grad_norm_nonsaturating")}}

    # F2b: the optimal discriminator
    dstar = toy.optimal_discriminator(seed=params.seed, steps=tp.d_star_steps)
    ev["F2b"] = {k: dstar[k] for k in ("mae_weighted", "mae_restricted", "max_abs_error_restricted",
                                       "const_half_mae_weighted", "js_estimate", "js_analytic")}
    evidence["F2b"] = dstar

    # F3, F3b: the clip sweep
    clips = {name: exps[name].clip for name in sweep}
    hists = {name: weight_histogram(load_torch(stages / "experiments" / name / "critic.pt"), clips[name]) for name in sweep}
    paper = min(sweep, key=lambda name: abs(np.log(clips[name] / PAPER_CLIP)))
    largest = max(sweep, key=lambda name: clips[name])
    ev["F3"] = {"experiment": paper, "clip": clips[paper], "boundary_share": hists[paper]["boundary_share"],
                "boundary_share_by_clip": {str(clips[n]): hists[n]["boundary_share"] for n in sweep}}
    ev["F3b"] = {"paper_clip": str(clips[paper]), "largest_clip": str(clips[largest]),
                 "background_level": {str(clips[n]): scores[n]["background_level"] for n in sweep},
                 "relief_score": {str(clips[n]): scores[n]["relief_score"] for n in sweep},
                 "fid": {str(clips[n]): scores[n]["fid"] for n in sweep},
                 "real_background_level": real["background_level"], "real_relief_score": real["relief_score"]}
    evidence["F3"] = {"sweep": sweep, "clips": clips, "histograms": hists}

    # F4, F4b, F4c: output heads over training steps
    heads = {h: series[ROLES[c]] for h, c in (("fc", "F4"), ("conv3", "F4b"), ("conv5", "F4c"))}

    def at(s: dict, key: str, step: int) -> float:  # the snapshot closest to `step`
        i = int(np.argmin(np.abs(np.array(s["step"]) - step)))
        return float(s[key][i])

    fc = heads["fc"]
    ev["F4"] = {"fc_peripheral_600": at(fc, "peripheral_energy", 600), "fc_peripheral_end": fc["peripheral_energy"][-1],
                "fc_confidence_600": at(fc, "confidence", 600), "fc_fid_600": at(fc, "fid", 600),
                "snapshot_step_used": int(fc["step"][int(np.argmin(np.abs(np.array(fc["step"]) - 600)))]),
                "end_step": int(fc["step"][-1]), "real_peripheral": real["peripheral_energy"]}
    c3 = heads["conv3"]
    ev["F4b"] = {"conv3_midgrey_end": c3["midgrey_share"][-1], "conv3_midgrey_first": c3["midgrey_share"][0],
                 "conv3_gradient_energy_end": c3["gradient_energy"][-1], "conv5_midgrey_end": heads["conv5"]["midgrey_share"][-1],
                 "fc_midgrey_end": fc["midgrey_share"][-1], "real_midgrey": real["midgrey_share"],
                 "real_gradient_energy": real["gradient_energy"]}
    c5 = heads["conv5"]
    ev["F4c"] = {"conv5_peripheral_end": c5["peripheral_energy"][-1], "fc_peripheral_end": fc["peripheral_energy"][-1],
                 "conv3_peripheral_end": c3["peripheral_energy"][-1], "conv5_midgrey_end": c5["midgrey_share"][-1],
                 "real_peripheral": real["peripheral_energy"]}

    # F5: the upsample generator against the conv5 head, at equal steps and equal wall time
    up, c5run = runs[ROLES["F5"]], runs[ROLES["F4c"]]
    up_sps, c5_sps = up.timing["seconds_per_step"], c5run.timing["seconds_per_step"]
    up_steps = int(series[ROLES["F5"]]["step"][-1])
    budget = up_steps * up_sps
    c5_steps = np.array(c5["step"])
    equal_time = c5_steps[c5_steps * c5_sps <= budget]
    equal_time_step = int(equal_time[-1]) if len(equal_time) else int(c5_steps[0])
    ev["F5"] = {"upsample_seconds_per_step": up_sps, "conv5_seconds_per_step": c5_sps,
                "upsample_steps": up_steps, "upsample_fid_equal_steps": series[ROLES["F5"]]["fid"][-1],
                "conv5_fid_equal_steps": at(c5, "fid", up_steps),
                "equal_time_seconds": budget, "conv5_step_at_equal_time": equal_time_step,
                "upsample_fid_equal_time": series[ROLES["F5"]]["fid"][-1],
                "conv5_fid_equal_time": at(c5, "fid", equal_time_step)}

    # F6: AE against VAE: the main stages' samples, scored like every other set
    ae, vae = Run(stages / "ae"), Run(stages / "vae")
    ae_score, vae_score = reference.score(ae.samples[:n]), reference.score(vae.samples[:n])
    ev["F6"] = {"ae_fid": ae_score["fid"], "vae_fid": vae_score["fid"],
                "ae_confidence": ae_score["confidence"], "vae_confidence": vae_score["confidence"],
                "ae_modes": ae_score["modes"], "vae_modes": vae_score["modes"],
                "ae_reconstruction": ae.final("recon"), "vae_reconstruction": vae.final("recon"), "vae_kl": vae.final("kl")}

    # F7: the identities
    m = toy.math_identities(seed=params.seed)
    ev["F7"] = {"kl_decomposition_error": m["kl_decomposition"]["max_abs_error"],
                "gan_value_error": max(m["gan_value_at_optimal_d"]["discrete_max_abs_error"],
                                       m["gan_value_at_optimal_d"]["gaussian_abs_error"]),
                "ml_min_kl_error": m["ml_equals_min_kl"]["discrete"]["identity_max_abs_error"],
                "ml_theta": m["ml_equals_min_kl"]["discrete"]["theta_ml"],
                "min_kl_theta": m["ml_equals_min_kl"]["discrete"]["theta_min_kl_population"],
                "printed_kl_at_p_equals_q": m["kl_printed_form"]["p_equals_q_printed"],
                "eq16_integral": m["eq16_sign"]["integral_p_r_log_pg_over_pr"], "kl_closed_form": m["eq16_sign"]["kl_closed_form"]}
    evidence["F7"] = m
    return ev, evidence


def run_findings(params: Params, out: Path, stages: Path, data_path: Path, classifier_path: Path) -> dict:
    check_experiments(params)  # before any work
    with stage_run("findings", params, groups=("findings",)) as run:
        began = time.perf_counter()
        ev, evidence = gather(params, stages, data_path, classifier_path)
        t = params.findings.thresholds
        result = {claim: judge(ev[claim], t) for claim, judge in findings.JUDGES.items()}
        write_json(out / "findings.json", result)
        # the one line per claim `dvc exp show` puts beside the params; findings.json holds the numbers
        write_json(out / "verdicts.json", {claim: {"verdict": r["verdict"]} for claim, r in result.items()})
        write_json(out / "evidence.json", evidence)
        run.set_tags({f"verdict.{claim}": r["verdict"] for claim, r in result.items()})
        run.log_metrics({"claims_reproduced": sum(r["verdict"] == "reproduced" for r in result.values()),
                         "seconds": time.perf_counter() - began}, 0)
        run.log_artifact(out / "findings.json")
    return result
