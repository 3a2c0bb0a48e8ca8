"""The markdown report: tables of every model and claim, one figure and paragraph per claim.

`render` is pure: it takes the stage outputs as plain data (findings, evidence, metrics,
provenance, sample grids) and writes report.md and its PNG figures into one folder. Figures are
seaborn/matplotlib (Agg) PNGs, so the report renders offline, with no chart library from the web.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np

from ganpipe.files import write_bytes, write_text

MODEL_COLUMNS = ["fid", "precision", "recall", "density", "coverage", "modes", "confidence", "brightness",
                 "blank_fraction", "peripheral_energy", "midgrey_share", "background_level", "relief_score"]
CLAIM_ORDER = ["F1", "F2", "F2b", "F3", "F3b", "F4", "F4b", "F4c", "F5", "F6", "F7"]
TITLES = {"F1": "Collapse under a too-strong discriminator", "F2": "JS saturation and the Wasserstein distance",
          "F2b": "The optimal discriminator", "F3": "Weight clipping piles weights at the boundary",
          "F3b": "Large clip values emboss the samples", "F4": "Fully connected generator: noise around the digit",
          "F4b": "3x3 conv output layer: blur", "F4c": "5x5 conv output layer: smooth digits",
          "F5": "The over-complex upsample generator", "F6": "Autoencoder against VAE", "F7": "The math, checked"}


def tile(images: np.ndarray, nrow: int = 8, pad: int = 2) -> np.ndarray:
    """uint8 N x 28 x 28 -> one uint8 grid image (white padding)."""
    n = len(images)
    rows = math.ceil(n / nrow)
    h, w = images.shape[1:]
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, nrow)
        grid[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = im
    return grid


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _grids_figure(panels: dict[str, np.ndarray], ncols: int | None = None, size: float = 2.4):
    import matplotlib.pyplot as plt

    ncols = ncols or len(panels)
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + 0.3), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, images) in zip(axes.flat, panels.items()):
        ax.imshow(tile(images, nrow=int(math.sqrt(len(images)))), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title, fontsize=9)
    return fig


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return str(v)
    if isinstance(v, float):
        if v == 0:
            return "0"
        return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 else f"{v:.2e}"
    return str(v)


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


class Figures:
    """Collects figures as (file name, PNG bytes); written next to report.md."""

    def __init__(self):
        self.files: dict[str, bytes] = {}

    def add(self, name: str, fig) -> str:
        self.files[name] = _png(fig)
        return f"figures/{name}"


def render(out: Path, *, findings: dict, evidence: dict, metrics: dict, provenance: dict,
           model_samples: dict[str, np.ndarray], experiment_snapshots: dict[str, tuple[np.ndarray, np.ndarray]],
           params_summary: dict) -> str:
    """Write out/report.md and out/figures/*.png; return the markdown."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    figs = Figures()
    md: list[str] = []
    counts = {state: sum(f["verdict"] == state for f in findings.values())
              for state in ("reproduced", "mixed", "not reproduced", "inconclusive")}
    md += ["# ganpipe report: the note's claims, measured", "",
           f"Of {len(findings)} claims: " + ", ".join(f"{n} {state}" for state, n in counts.items()) + " under the committed params "
           f"(main WGAN clip = {params_summary['wgan_clip']}, main GAN generator = {params_summary['gan_generator']}, "
           f"data: {provenance['data']['source']}). Every number below is computed by the pipeline; "
           "verdicts compare them with the thresholds in `params.yaml` (`findings.thresholds`).", ""]

    # ---- models
    md += ["## Models", "", f"Samples of every model against {metrics['n']} real test digits (features of the "
           "feature classifier; FID depends on n, so compare within this table only). `real` is the floor: "
           "real training digits against real test digits at the same n.", ""]
    rows = [[name] + [metrics[name].get(c, float("nan")) for c in MODEL_COLUMNS] for name in ("real", "ae", "vae", "gan", "wgan")]
    md += [_table(["model"] + MODEL_COLUMNS, rows), ""]
    path = figs.add("models.png", _grids_figure({m: s[:64] for m, s in model_samples.items()}))
    md += [f"![samples of each model]({path})", "",
           "AE and VAE: decoded codes drawn from N(0, I). GAN and WGAN: fixed noise.", ""]

    # ---- findings table
    md += ["## Findings", "", VERDICT_LEGEND, "",
           _table(["id", "claim", "verdict", "holds in", "validity", "condition map"],
                  [[cid, findings[cid]["claim"], f"**{findings[cid]['verdict']}**", findings[cid]["holds_in"],
                    _validity_word(findings[cid]), findings[cid].get("conditions_summary", findings[cid].get("scope", ""))]
                   for cid in CLAIM_ORDER]), ""]

    for cid in CLAIM_ORDER:
        f = findings[cid]
        md += [f"### {cid}. {TITLES[cid]}: {f['verdict']} ({f['holds_in']})", "", f"*The note:* {f['claim']}", "",
               f"*Measured:* {f['measure']}.", ""]
        if "seeds" in f:
            md += _seed_tables(f)
        else:
            md += [f"*Scope:* {f['scope']}.", ""]
            obs = [[k, v] for k, v in f["observed"].items() if not isinstance(v, (dict, list))]
            md += [_table(["observed", "value"], obs), "",
                   _table(["check", "holds"], [[k, v] for k, v in f["checks"].items()]), ""]
        thr = [[k, v] for k, v in f["thresholds"].items()]
        if thr:
            md += [_table(["threshold", "value"], thr), ""]
        md += _claim_section(cid, f, evidence, metrics, model_samples, experiment_snapshots, figs, plt, sns)
        if f.get("conditions"):
            md += _condition_table(cid, f, evidence, experiment_snapshots, figs)

    # ---- provenance
    md += ["## Provenance", "", _table(["item", "value"], [
        ["git commit", provenance["git_commit"]], ["params digest", provenance["params_digest"]],
        ["data source", provenance["data"]["source"]],
        ["train / test digits", f"{provenance['data']['counts']['train']['total']} / {provenance['data']['counts']['test']['total']}"],
        *[[f"sha256 {k}", v] for k, v in provenance["data"]["sha256"].items()],
        ["MLflow store", provenance["mlflow_uri"]],
    ]), "", "MLflow runs (latest per stage):", "",
        _table(["stage", "run id"], [[s, r] for s, r in sorted(provenance["mlflow_runs"].items())]), "",
        "DVC outputs (`dvc.lock`):", "",
        _table(["stage", "output", "md5"], provenance["dvc_outs"]), ""]

    text = "\n".join(md)
    for name, data in figs.files.items():
        write_bytes(out / "figures" / name, data)
    write_text(out / "report.md", text)
    return text


def html_page(markdown: str, folder: Path, title: str = "ganpipe report") -> str:
    """The report as one self-contained HTML page, its figures inlined as data URIs: what the
    MLflow UI renders among a run's artifacts (it shows markdown as plain text, HTML as a page)."""
    import base64
    import html
    import re

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)

    def inline(match: re.Match) -> str:
        path = folder / html.unescape(match.group(1))
        if not path.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    style = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}"
             "img{max-width:100%}code{background:#f4f4f4}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")


VERDICT_LEGEND = ("Each training-based claim (F1, F3-F5) runs at every seed of `findings.seeds`; *holds in* "
                  "counts the seeds whose checks all pass. **reproduced**: every seed; **mixed**: some; **not reproduced**: "
                  "none; **inconclusive**: a validity check failed (not trained, the manipulation did not take effect, "
                  "unequal conditions), so the experiment could not test the claim. F2, F2b, F6 and F7 are single "
                  "runs (toys with exact answers, the math, the main models).")


def _validity_word(f: dict) -> str:
    failed = [name for name, v in f.get("validity", {}).items() if not v["ok"]]
    if not f.get("validity"):
        return "n/a" if "scope" in f else "ok"
    return "ok" if not failed else "failed: " + ", ".join(failed)


def _value(v) -> str:
    if isinstance(v, dict):
        return "; ".join(f"{k}: {_value(x)}" for k, x in v.items())
    if isinstance(v, list):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    return _fmt(v)


def _seed_tables(f: dict) -> list[str]:
    """Per-seed values with mean and range, per-seed checks, and the validity checks."""
    seeds = list(f["seeds"])
    rows = []
    for key, sp in f["spread"].items():
        rows.append([key] + [f["seeds"][s]["observed"][key] for s in seeds] + [sp["mean"], f"{_fmt(sp['min'])} to {_fmt(sp['max'])}"])
    out = [_table(["observed"] + [f"seed {s}" for s in seeds] + ["mean", "range"], rows), ""]
    checks = list(next(iter(f["seeds"].values()))["checks"])
    out += [_table(["check"] + [f"seed {s}" for s in seeds] + ["holds in"],
                   [[c] + [f["seeds"][s]["checks"][c] for s in seeds] + [f["checks"][c]] for c in checks]
                   + [["**all checks**"] + [f["seeds"][s]["holds"] for s in seeds] + [f["holds_in"]]]), ""]
    out += ["*Validity* (what must hold for the verdict to mean anything):", "",
            _table(["validity check", "required"] + [f"seed {s}" for s in seeds] + ["ok"],
                   [[name, v["required"]] + [_value(v["value"].get(s)) for s in seeds] + [v["ok"]]
                    for name, v in f["validity"].items()]), ""]
    return out


# the experiments whose samples show a claim's condition map
MAP_SAMPLES = {"F1": ["f1_strong_d"], "F4": ["f4_fc"], "F4b": ["f4_conv3"], "F4c": ["f4_conv5", "f4_fc"]}


def _condition_table(cid: str, f: dict, evidence: dict, snaps: dict, figs: Figures) -> list[str]:
    rows = [[c["name"], c["n_seeds"], _validity_word(c), c["holds_in"], f"**{c['verdict']}**"] for c in f["conditions"]]
    out = ["*Condition map* (`base` is the experiment's own setting; each other condition changes the knobs it names; "
           "declared in params.yaml under the experiment's `map`):", "",
           _table(["condition", "seeds run", "validity", "holds in", "verdict"], rows), "",
           f"Summary: {f['conditions_summary']}.", ""]
    names = MAP_SAMPLES.get(cid, evidence["sweep"] if cid == "F3b" else [])
    panels = {}
    for c in f["conditions"]:
        for name in names:
            key = f"{name}/{c['name']}"
            if key in snaps:
                steps, images = snaps[key]
                panels[f"{name}, {c['name']}\nstep {steps[-1]}, seed {next(iter(c['seeds']))}"] = images[-1][:25]
    if panels:
        path = figs.add(f"{cid.lower()}_conditions.png", _grids_figure(panels, ncols=len(names) if len(names) > 1 else
                                                                      min(len(panels), 4), size=2.2))
        out += [f"![{cid} conditions]({path})", ""]
    return out


def _first_seed(f: dict) -> tuple[str, dict]:
    seed = next(iter(f["seeds"]))
    return seed, f["seeds"][seed]["observed"]


def _claim_section(cid, f, evidence, metrics, model_samples, snaps, figs, plt, sns) -> list[str]:
    o = f["observed"]
    if cid == "F1":
        h = evidence["F1_history"]
        fig, axes = plt.subplots(1, 2, figsize=(9, 3))
        axes[0].semilogy(h["step"], h["d_loss"], label="D loss")
        axes[0].semilogy(h["step"], h["g_loss"], label="G loss")
        seed, _ = _first_seed(f)
        axes[0].set_xlabel("step"), axes[0].legend(), axes[0].set_title(f"strong discriminator: losses, seed {seed}")
        steps, images = snaps["f1_strong_d"]
        axes[1].imshow(tile(images[-1][:36], nrow=6), cmap="gray", vmin=0, vmax=255)
        axes[1].axis("off"), axes[1].set_title(f"samples at step {steps[-1]}, seed {seed}")
        path = figs.add("f1_collapse.png", fig)
        return [f"![F1]({path})", "",
                f"Mean over seeds: D loss fell to {_fmt(o['min_d_loss'])} and G loss climbed to {_fmt(o['max_g_loss'])} "
                f"(at the end: {_fmt(o['final_d_loss'])} and {_fmt(o['final_g_loss'])}); "
                f"{_fmt(100 * o['blank_fraction'])}% of samples are near-blank (mean brightness "
                f"{_fmt(o['brightness'])} against {_fmt(o['real_brightness'])} for real digits).", ""]
    if cid == "F2":
        toy = evidence["F2_toy"]
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.2))
        th = toy["thetas"]
        axes[0].plot(th, toy["js_analytic"], "k-", label="JS (analytic)")
        axes[0].plot(th, toy["w_analytic"], "k--", label="W = |theta| (analytic)")
        axes[0].plot(th, toy["js_estimate"], "o", label="trained D's JS estimate")
        axes[0].plot(th, np.array(toy["critic_estimate"]) / toy["w_fit_slope"], "s", label="clipped critic / slope")
        axes[0].set_xlabel("theta"), axes[0].legend(fontsize=7), axes[0].set_title("disjoint supports")
        axes[1].plot(th, np.abs(toy["d_grad"]), "o-", label="|dJS/dtheta|, D (saturating)")
        axes[1].plot(th, np.abs(toy["critic_grad"]), "s-", label="|dW/dtheta|, critic")
        axes[1].set_yscale("log"), axes[1].set_xlabel("theta"), axes[1].legend(fontsize=7), axes[1].set_title("gradients")
        m = evidence["F2_mnist"]["main_gan"]
        axes[2].plot(m["step"], m["js_estimate"], label="JS estimate (batch)")
        axes[2].axhline(math.log(2), color="k", ls=":", label="log 2")
        axes[2].set_xlabel("step"), axes[2].legend(fontsize=7), axes[2].set_title("main GAN on MNIST")
        path = figs.add("f2_js_saturation.png", fig)
        mn = o["mnist"]
        return [f"![F2]({path})", "",
                f"Toy: for every theta != 0 the trained D's JS estimate lies in [{_fmt(o['js_estimate_min'])}, "
                f"{_fmt(o['js_estimate_max'])}] (log 2 = 0.693); its mean |gradient| in theta under the saturating "
                f"loss is {_fmt(o['d_grad_mean_abs'])}, against {_fmt(o['critic_grad_mean_abs'])} for the clipped critic, "
                f"whose estimate fits |theta| with R^2 = {_fmt(o['w_fit_r2'])}. The non-saturating loss keeps a "
                f"gradient ({_fmt(o['d_grad_nonsat_mean_abs'])}): the vanishing is a property of log(1 - D).", "",
                f"MNIST: at the end of training the main GAN's batch JS estimate is {_fmt(mn['main_gan']['js_estimate'])} "
                f"(D accuracy on fakes {_fmt(mn['main_gan']['d_acc_fake'])}), the strong-D GAN's "
                f"{_fmt(mn['strong_d_gan']['js_estimate'])}; the generator's gradient norm under the saturating loss is "
                f"{_fmt(mn['main_gan']['g_grad_norm_saturating'])} / {_fmt(mn['strong_d_gan']['g_grad_norm_saturating'])} "
                f"against {_fmt(mn['main_gan']['g_grad_norm_nonsaturating'])} / "
                f"{_fmt(mn['strong_d_gan']['g_grad_norm_nonsaturating'])} under the non-saturating one.", ""]
    if cid == "F2b":
        d = evidence["F2b"]
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot(d["grid"], d["d_star"], "k-", label="D* = p_R / (p_R + p_G)")
        ax.plot(d["grid"], d["d_trained"], "--", label="trained D")
        ax.fill_between(d["grid"], 0, np.array(d["p_r"]) / max(d["p_r"]), alpha=0.15, label="p_R (scaled)")
        ax.fill_between(d["grid"], 0, np.array(d["p_g"]) / max(d["p_g"]), alpha=0.15, label="p_G (scaled)")
        ax.set_xlabel("x"), ax.legend(fontsize=7)
        path = figs.add("f2b_optimal_d.png", fig)
        return [f"![F2b]({path})", "", f"Density-weighted mean |D - D*| = {_fmt(o['mae_weighted'])} "
                f"(a constant 1/2 scores {_fmt(o['const_half_mae_weighted'])}).", ""]
    if cid == "F3":
        seed, _ = _first_seed(f)
        sweep, clips = evidence["sweep"], evidence["clips"]
        fig, axes = plt.subplots(1, len(sweep), figsize=(3.2 * len(sweep), 2.8), squeeze=False)
        for ax, name in zip(axes[0], sweep):
            hist = evidence["histograms"][f"{name}/base/seed_{seed}"]
            centers = (np.array(hist["edges"][:-1]) + np.array(hist["edges"][1:])) / 2
            ax.bar(centers, np.array(hist["counts"]) / sum(hist["counts"]), width=centers[1] - centers[0])
            ax.set_title(f"c = {clips[name]}: {100 * hist['boundary_share']:.0f}% at +-c", fontsize=9)
            ax.set_xlabel("weight / c")
        path = figs.add("f3_weight_histograms.png", fig)
        rows = [[c] + [f["seeds"][s]["observed"]["boundary_share_by_clip"][c] for s in f["seeds"]]
                for c in next(iter(f["seeds"].values()))["observed"]["boundary_share_by_clip"]]
        fig, ax = plt.subplots(figsize=(6, 3))
        for color, name in zip(sns.color_palette(n_colors=len(sweep)), sweep):
            for i, s in enumerate(f["seeds"]):
                curve = evidence["series"][f"{name}/base/seed_{s}"]
                ax.plot(curve["step"], curve["fid"], "o-", color=color, ms=3, lw=1, label=f"c = {clips[name]}" if i == 0 else None)
        ax.set_xlabel("step"), ax.set_ylabel(f"FID at n={evidence['snapshot_n']}"), ax.legend(fontsize=7)
        curves = figs.add("f3_sweep_fid.png", fig)
        return [f"![F3]({path})", "", f"Critic weight histograms at seed {seed}. Share of weights within 1% of +-c, "
                "every clip and seed:", "", _table(["clip"] + [f"seed {s}" for s in f["seeds"]], rows), "",
                f"![F3 sweep FID]({curves})", "", "FID of the sweep's runs over training, every seed (the `trained` "
                "validity checks read the last three points).", ""]
    if cid == "F3b":
        seed, o0 = _first_seed(f)
        sweep, clips = evidence["sweep"], evidence["clips"]
        panels = {f"c = {clips[n]}": snaps[n][1][-1][:36] for n in sweep}
        path = figs.add("f3b_clip_sweep_samples.png", _grids_figure(panels))
        rows = [[c, s] + [f["seeds"][s]["observed"][k][c] for k in ("background_level", "relief_score", "fid")]
                for s in f["seeds"] for c in o0["background_level"]]
        rows.append(["real", "", o0["real_background_level"], o0["real_relief_score"], 0.0])
        return [f"![F3b]({path})", "", f"Samples at seed {seed}.", "",
                _table(["clip", "seed", "background level", "relief score", "FID"], rows), ""]
    if cid in ("F4", "F4b", "F4c"):
        if cid != "F4":
            return ["See the figures of F4.", ""]
        names = {"fc": "f4_fc", "conv3": "f4_conv3", "conv5": "f4_conv5"}
        seeds = evidence["seeds"]
        panels = {}
        for head, name in names.items():
            steps, images = snaps[name]
            for i in sorted({0, len(steps) // 2, len(steps) - 1}):
                panels[f"{head}, step {steps[i]}"] = images[i][:25]
        path_grid = figs.add("f4_heads_over_steps.png", _grids_figure(panels, ncols=3, size=2.2))
        fig, axes = plt.subplots(1, 3, figsize=(12, 3))
        real = evidence["real"]
        palette = sns.color_palette(n_colors=3)
        for color, (head, name) in zip(palette, names.items()):
            for i, seed in enumerate(seeds):
                s = evidence["series"][f"{name}/base/seed_{seed}"]
                label = head if i == 0 else None
                axes[0].plot(s["step"], s["peripheral_energy"], "o-", color=color, ms=3, lw=1, label=label)
                axes[1].plot(s["step"], s["midgrey_share"], "o-", color=color, ms=3, lw=1, label=label)
                axes[2].plot(s["step"], s["fid"], "o-", color=color, ms=3, lw=1, label=label)
        axes[0].axhline(real["peripheral_energy"], color="k", ls=":", label="real")
        axes[1].axhline(real["midgrey_share"], color="k", ls=":", label="real")
        for ax, title in zip(axes, ("peripheral energy (noise)", "mid-grey share (blur)", f"FID at n={evidence['snapshot_n']}")):
            ax.set_title(title), ax.set_xlabel("step"), ax.legend(fontsize=7)
        path_curves = figs.add("f4_heads_measures.png", fig)
        return [f"![F4 grids]({path_grid})", "", f"Grids: seed {seeds[0]}. Curves: every seed (one line per seed), "
                "the FID panel is what the `trained` validity checks read.", "", f"![F4 measures]({path_curves})", ""]
    if cid == "F5":
        fig, ax = plt.subplots(figsize=(6, 3))
        palette = sns.color_palette(n_colors=2)
        for color, (name, label) in zip(palette, (("f4_conv5", "conv5 head"), ("f5_upsample", "upsample + two convs"))):
            for i, seed in enumerate(evidence["seeds"]):
                key = f"{name}/base/seed_{seed}"
                s, t = evidence["series"][key], evidence["timing"][key]
                ax.plot(np.array(s["step"]) * t["seconds_per_step"], s["fid"], "o-", color=color, ms=3, lw=1,
                        label=label if i == 0 else None)
        ax.set_xlabel("training wall time (s, one thread)"), ax.set_ylabel("FID"), ax.legend(fontsize=7)
        path = figs.add("f5_fid_vs_time.png", fig)
        return [f"![F5]({path})", "", "Means over seeds: the upsample generator takes {_fmt(o['upsample_seconds_per_step'])} s per step "
                f"against {_fmt(o['conv5_seconds_per_step'])} s ({_fmt(o['slowdown'])}x). At equal steps "
                f"({o['upsample_steps']}) FID is {_fmt(o['upsample_fid_equal_steps'])} against "
                f"{_fmt(o['conv5_fid_equal_steps'])}; at equal wall time ({_fmt(o['equal_time_seconds'])} s, conv5 at step "
                f"{o['conv5_step_at_equal_time']}) {_fmt(o['upsample_fid_equal_time'])} against {_fmt(o['conv5_fid_equal_time'])}.", ""]
    if cid == "F6":
        path = figs.add("f6_ae_vs_vae.png", _grids_figure({"AE: decoded N(0, I) codes": model_samples["ae"][:64],
                                                           "VAE: decoded N(0, I) codes": model_samples["vae"][:64]}, size=3))
        return [f"![F6]({path})", ""]
    if cid == "F7":
        rows = [[t["where"], t["printed"], t["corrected"], t["printed_value"], t["correct_value"]]
                for t in evidence["F7"]["typos"]]
        return ["The note's typos this corrects (value as printed against the correct value, on an example):", "",
                _table(["where", "printed", "corrected", "printed value", "correct value"], rows), ""]
    return []
