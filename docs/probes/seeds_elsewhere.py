"""A claim's own setting on another machine, at the seeds you choose: does each seed's outcome match
the committed study's, and at what share of seeds does the claim hold there?
(docs/reproducibility.md)

Two steps, on two machines:

    python docs/probes/seeds_elsewhere.py train F1 0-15 OUT/          # the other machine: one run per core
    python docs/probes/seeds_elsewhere.py judge F1 OUT/runs.tar.gz STUDY/

`train` runs the claim's experiments' own setting (params.yaml, unchanged) at the seeds given, with
the stage's own training code and pool, one thread per run, on the CPU, no MLflow, and packs what
the judge reads of each run. `judge` reads them with the study's own judge (each check on the last
third's medians) and sets each seed beside the committed findings.json (`git show HEAD:...`) and,
where STUDY holds the same runs, beside those. STUDY is a clone whose `dvc repro` has run at least
prepare and train-classifier (its data and classifier are used; F1 also reads its f1_known_long
runs, the levelled check's calibration, the only one F1's validity reads). Validity is judged for
F1 only: every other claim's validity reads the trained rule, calibrated on a whole study.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ganpipe.params import load_params  # noqa: E402
from ganpipe.study import conditions  # noqa: E402
from ganpipe.study.claims import CLAIMS  # noqa: E402

KEEP = ("history.csv", "snapshots.npz", "samples.npz", "train.json")  # what a judged run is read from


def seeds_from(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def train(cid: str, spec: str, out: Path) -> None:
    import platform
    import time

    import torch

    from ganpipe.pipeline.experiment import _run_job
    from ganpipe.running import pool
    from ganpipe.running.progress import Run

    params = load_params(ROOT / "params.yaml").model_copy(update={"device": "cpu"})  # the CPU's floats, not a GPU's
    f = params.findings
    jobs = []
    for name in CLAIMS[cid].experiments([]):
        exp = f.experiments[name].model_copy(update={"seeds": seeds_from(spec)})
        jobs += [j for j in conditions.jobs(name, exp, f.seeds, f.map_seeds, out / "experiments" / name)
                 if j.condition == conditions.BASE]
    data = ROOT / "stages" / "prepare" / "mnist.npz"
    todo = [Run(f"{j.experiment} seed {j.seed}", j.cfg.steps, _run_job, (j, params, data, "auto", f"probe-{i}"))
            for i, j in enumerate(jobs)]
    pool.start_server()
    began = time.perf_counter()
    records = pool.run_all(todo, len(todo), f"{cid} on {platform.node()}")
    machine = {"cpu": _cpu(), "torch": torch.__version__, "python": platform.python_version(), "runs": len(jobs),
               "wall_seconds": round(time.perf_counter() - began, 1),
               "train_seconds": [round(r["seconds"], 1) for r in records]}
    with tarfile.open(out / "runs.tar.gz", "w:gz") as tar:
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


def judge(cid: str, packed: Path, study: Path) -> None:
    import tempfile

    from ganpipe.data.mnist import load_split
    from ganpipe.measures import metrics
    from ganpipe.measures.controls import run_controls
    from ganpipe.measures.digit_cnn import load_classifier
    from ganpipe.report.tables import with_spread
    from ganpipe.study import trained
    from ganpipe.study.evidence import Context, Runs, SnapshotMeter
    from ganpipe.study.judge import late_evidence

    claim = CLAIMS[cid]
    params = load_params(study / "params.yaml")
    f = params.findings
    test = load_split(study / "stages" / "prepare" / "mnist.npz", "test")
    limits = {name: c["threshold"] for name, c in run_controls(test.images, f.controls).items()}
    t = {**f.thresholds.model_dump(), **limits}
    classifier = study / "stages" / "classifier" / "classifier.pt"
    real_feats, _ = load_classifier(classifier).embed(test.images[:min(f.fid_snapshot_n, len(test.images))])
    meter = SnapshotMeter(classifier, real_feats, limits["peak_brightness"])
    ctx = Context(real=metrics.artifact_measures(test.images), sweep=[], clips={}, flops={},
                  formed_within=f.validity.formed_within)
    here = Runs(study / "stages", meter)
    rule = trained.Rule({"held": trained.held_calibration(params, here)}) if cid == "F1" else None
    first = claim.experiments([])[0]

    def seeds_in(runs: Runs) -> list[int]:
        folders = [runs.stages / "experiments" / name / conditions.BASE for name in claim.experiments([])]
        found = [{int(p.name.split("_")[1]) for p in folder.glob("seed_*")} if folder.is_dir() else set()
                 for folder in folders]
        return sorted(set.intersection(*found))

    def outcomes(runs: Runs) -> dict[int, dict]:
        seeds = seeds_in(runs)
        runs.measure([runs.folder(name, conditions.BASE, s) for name in claim.experiments([]) for s in seeds])
        out = {}
        for seed in seeds:
            end, judged, _ = late_evidence(claim, runs, conditions.BASE, seed, ctx, t)
            row = {**claim.judge(judged, t)["checks"],
                   **{k: round(v, 4) for k, v in judged.items() if isinstance(v, float)}}
            if rule is not None:
                valid = claim.validity(end, f.validity, rule)
                row["valid"] = all(v["ok"] for v in valid.values())
            out[seed] = row
        return out

    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(packed) as tar:
            tar.extractall(tmp, filter="data")
            machine = json.loads(tar.extractfile("machine.json").read())
        there = outcomes(Runs(Path(tmp), meter))
    ours = outcomes(here) if seeds_in(here) else {}
    committed = json.loads(subprocess.run(["git", "show", "HEAD:stages/findings/findings.json"], cwd=ROOT,
                                          capture_output=True, text=True, check=True).stdout)[cid]
    committed_seeds = (committed.get("conditions") or [committed])[0]["seeds"]

    def held(rows: dict) -> str:
        counted = [r for r in rows.values() if r.get("valid", True)]
        return with_spread(f"{sum(all(r[c] for c in claim_checks) for r in counted)}/{len(counted)}")

    claim_checks = list(next(iter(committed_seeds.values()))["checks"])
    print(json.dumps({"claim": cid, "experiment": first, "elsewhere": machine, "study_machine": _cpu(),
                      "holds_elsewhere": held(there), "holds_in_study": held(ours) if ours else None,
                      "committed": {s: {**r["checks"], **{k: round(v, 4) for k, v in r["observed"].items()
                                                        if isinstance(v, float)}}
                                    for s, r in committed_seeds.items()},
                      "seeds_elsewhere": there, "seeds_in_study": ours}, indent=1))


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in ("train", "judge") or sys.argv[2] not in CLAIMS:
        sys.exit(__doc__)
    if sys.argv[1] == "train":
        train(sys.argv[2], sys.argv[3], Path(sys.argv[4]))
    else:
        judge(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
