"""F1's arm on another machine, at more seeds than the study runs: does "the images go black" hold
at the same seeds there, and at what share of seeds? (issue 33, item 6; docs/reproducibility.md)

Two steps, on two machines:

    python docs/probes/f1_seeds_elsewhere.py train 0-15 OUT/      # the other machine: one run per core
    python docs/probes/f1_seeds_elsewhere.py judge OUT/f1_runs.tar.gz STUDY/

`train` runs f1_strong_d's own setting (params.yaml, unchanged) at the seeds given, with the
stage's own training code and pool, one thread per run, no MLflow, and packs each run's history and
snapshots. `judge` reads them, and the study's own F1 runs, with the study's own judge (F1's checks on the
last third's medians, its validity with the levelled rule calibrated on the study's runs of known
state), using the study's data and classifier (STUDY: a clone once `dvc repro` has run F1's two
experiments), and prints each seed's outcome on both machines.
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ganpipe.params import load_params  # noqa: E402
from ganpipe.study import conditions  # noqa: E402
from ganpipe.study.claims.f1_collapse import CLAIM, EXPERIMENT  # noqa: E402

KEEP = ("history.csv", "snapshots.npz", "samples.npz", "train.json")  # what a judged run is read from


def seeds_from(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def train(spec: str, out: Path) -> None:
    import platform
    import time

    import torch

    from ganpipe.pipeline.experiment import _run_job
    from ganpipe.running import pool
    from ganpipe.running.progress import Run

    params = load_params(ROOT / "params.yaml").model_copy(update={"device": "cpu"})  # the CPU's floats, not a GPU's
    f = params.findings
    exp = f.experiments[EXPERIMENT].model_copy(update={"seeds": seeds_from(spec)})
    runs_dir = out / "experiments" / EXPERIMENT
    jobs = [j for j in conditions.jobs(EXPERIMENT, exp, f.seeds, f.map_seeds, runs_dir) if j.condition == conditions.BASE]
    data = ROOT / "stages" / "prepare" / "mnist.npz"
    todo = [Run(f"{EXPERIMENT} seed {j.seed}", j.cfg.steps, _run_job, (j, params, data, "never", f"probe-{j.seed}"))
            for j in jobs]
    pool.start_server()
    began = time.perf_counter()
    records = pool.run_all(todo, len(todo), f"{EXPERIMENT} on {platform.node()}")
    machine = {"cpu": _cpu(), "torch": torch.__version__, "python": platform.python_version(), "runs": len(jobs),
               "wall_seconds": round(time.perf_counter() - began, 1),
               "train_seconds": [round(r["seconds"], 1) for r in records]}
    with tarfile.open(out / "f1_runs.tar.gz", "w:gz") as tar:
        for job in jobs:
            for name in KEEP:
                tar.add(job.folder / name, arcname=str(job.folder.relative_to(out) / name))
        blob = json.dumps(machine, indent=1).encode()
        info = tarfile.TarInfo("machine.json")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    print(json.dumps(machine))


def _cpu() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def judge(packed: Path, study: Path) -> None:
    """Each seed's checks and validity on both machines, read as the findings stage reads its runs:
    the controls' thresholds from the study's own test digits, F1's levelled check calibrated on the
    study's `f1_known_long` runs (the only calibration F1's validity reads)."""
    import tempfile

    from ganpipe.data.mnist import load_split
    from ganpipe.measures.controls import run_controls
    from ganpipe.measures.digit_cnn import load_classifier
    from ganpipe.report.tables import with_spread
    from ganpipe.study import trained
    from ganpipe.study.evidence import Context, Runs, SnapshotMeter
    from ganpipe.study.judge import late_evidence

    params = load_params(study / "params.yaml")
    f = params.findings
    test = load_split(study / "stages" / "prepare" / "mnist.npz", "test")
    limits = {name: c["threshold"] for name, c in run_controls(test.images, f.controls).items()}
    t = {**f.thresholds.model_dump(), **limits}
    classifier = study / "stages" / "classifier" / "classifier.pt"
    real_feats, _ = load_classifier(classifier).embed(test.images[:min(f.fid_snapshot_n, len(test.images))])
    meter = SnapshotMeter(classifier, real_feats, limits["peak_brightness"])
    from ganpipe.measures import metrics

    ctx = Context(real=metrics.artifact_measures(test.images), sweep=[], clips={}, flops={},
                  formed_within=f.validity.formed_within)
    here = Runs(study / "stages", meter)
    rule = trained.Rule({"held": trained.held_calibration(params, here)})

    def seeds_in(runs: Runs) -> list[int]:
        base = runs.stages / "experiments" / EXPERIMENT / conditions.BASE
        return sorted(int(p.name.split("_")[1]) for p in base.iterdir() if p.name.startswith("seed_"))

    def outcomes(runs: Runs) -> dict[int, dict]:
        seeds = seeds_in(runs)
        runs.measure([runs.folder(EXPERIMENT, conditions.BASE, s) for s in seeds])
        out = {}
        for seed in seeds:
            end, judged, _ = late_evidence(CLAIM, runs, conditions.BASE, seed, ctx, t)
            valid = CLAIM.validity(end, f.validity, rule)
            out[seed] = {**CLAIM.judge(judged, t)["checks"], "black_fraction": round(judged["black_fraction"], 4),
                         "valid": all(v["ok"] for v in valid.values()),
                         "g_loss_levelled": round(valid["g_loss_levelled"]["value"], 4)}
        return out

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(packed) as tar:
            tar.extractall(tmp, filter="data")
            machine = json.loads(tar.extractfile("machine.json").read())
        there = outcomes(Runs(Path(tmp), meter))
    ours = outcomes(here)

    def share(rows: dict) -> str:
        return with_spread(f"{sum(r['samples_black'] for r in rows.values())}/{len(rows)}")

    print(json.dumps({"elsewhere": machine, "here": _cpu(), "held_limit": rule.calibration["held"].get("threshold"),
                      "black_elsewhere": share(there), "black_here": share(ours),
                      "shared_seeds_parted": [s for s in there if s in ours and there[s]["samples_black"] != ours[s]["samples_black"]],
                      "seeds_elsewhere": there, "seeds_here": ours}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] not in ("train", "judge"):
        sys.exit(__doc__)
    if sys.argv[1] == "train":
        train(sys.argv[2], Path(sys.argv[3]))
    else:
        judge(Path(sys.argv[2]), Path(sys.argv[3]))
