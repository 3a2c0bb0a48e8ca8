"""Stage main-models: the main GAN and WGAN, as your knobs trained them, read in the note's terms,
into stages/main_models/: readings.json (each reading with its claim, line and words),
main_models.json (the numbers `dvc exp show` puts beside the knobs) and page.md (the samples over
training, the readings, what to look at).

It reads the main models, their scores (evaluate) and the controls' lines (controls), never the
findings experiments, so `dvc exp run -S wgan.clip=1.0 main-models` runs on a fresh clone in
minutes; the report's "Your knobs" reads the same file.
"""

from __future__ import annotations

import json
from pathlib import Path

from ganpipe.params import Params
from ganpipe.pipeline.controls import read_controls
from ganpipe.running.files import InputError, load_npz, write_bytes, write_json, write_text
from ganpipe.running.tracking import stage_run
from ganpipe.study.main_models import READINGS, headline, read_main_models

# what each reading shows a student, said once: the artifact the note describes, not what the study found
LOOK_FOR = {
    "boundary_share": "the share of the critic's weights sitting at +-clip (F3's pile-up)",
    "emboss_score": "paired light and dark edges, a relief (F3b), or a grey page: in the samples over training, "
                    "not only the last",
    "background_noise": "speckle on the page around the digit (F4, the note's fully connected generator)",
    "edge_sharpness": "soft, blurred strokes (F4b, the note's 3x3 output layer)",
}


def read_knobs(params: Params, out: Path, stages: Path = Path("stages")) -> dict:
    with stage_run("main-models", params, groups=("gan", "wgan")) as run:
        readings = read_main_models(params, stages, read_controls(stages / "controls" / "controls.json"))
        scores = _scores(stages / "evaluate" / "metrics.json")
        numbers = headline(readings)
        write_json(out / "readings.json", readings)
        write_json(out / "main_models.json", numbers)
        write_text(out / "page.md", "\n".join(page(params, readings, scores, stages, out)) + "\n")
        run.log_to_pipeline({f"{m}.{k}": v for m, values in numbers.items() for k, v in values.items()})
    return readings


def _scores(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (run `dvc repro evaluate` first)") from None


def page(params: Params, readings: dict, scores: dict, stages: Path, out: Path) -> list[str]:
    from ganpipe.report.figures import grids_figure, png
    from ganpipe.report.tables import fmt, table

    g, w = params.gan, params.wgan
    said = {"wgan": f"the WGAN: {w.generator} generator, {w.output} output, {w.critic} critic "
                    f"({'batch norm' if w.critic_norm == 'batch' else 'no norm'}), clip {w.clip}, RMSprop {w.lr:g}, "
                    f"{w.steps:,} steps",
            "gan": f"the GAN: {g.generator} generator, {g.output} output, {g.d_steps} D step(s) per G step, "
                   f"lr D {g.lr_d:g} / G {g.lr_g:g}, {g.steps:,} steps"}
    md = ["# The main models in the note's terms", "",
          "Your knobs (params.yaml's `gan` and `wgan` groups) trained these two models; each is read here with the "
          "findings' measures against the lines their controls set. One run at one seed: a reading, not a verdict "
          "(the verdicts are the study's, in reports/report.md).", ""]
    for model in ("wgan", "gan"):
        z = load_npz(stages / model / "snapshots.npz", required=("steps", "images"))
        every = max(1, -(-len(z["steps"]) // 10))
        panels = {f"step {int(s):,}": images[:16] for s, images in list(zip(z["steps"], z["images"]))[::every]}
        write_bytes(out / "figures" / f"{model}_over_training.png", png(grids_figure(panels, ncols=len(panels), size=1.5)))
        s = scores[model]
        rows = [[m, READINGS[m][0], fmt(r["value"]), fmt(r["threshold"]), f"**{r['words']}**"]
                for m, r in readings[model].items() if m != "knobs"]
        md += [f"## {said[model][0].upper()}{said[model][1:]}", "",
               f"![{model} over training](figures/{model}_over_training.png)", "",
               f"FID {fmt(s['fid'])} at n = {scores['n']} (real digits against real: {fmt(scores['real']['fid'])}); "
               f"{fmt(s['modes'])} of 10 digit classes drawn.", "",
               table(["reading", "claim", "value", "line", "reads"], rows), "",
               "What to look at: " + "; ".join(LOOK_FOR[m] for m in readings[model] if m in LOOK_FOR) + ".", ""]
    return md
