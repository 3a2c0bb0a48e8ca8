"""Stage experiment@NAME: the training runs that a finding needs (strong discriminator, clip sweep,
output heads, the upsample generator), configured in params.yaml under findings.experiments.NAME.

Each experiment starts from the model's built-in defaults plus its own overrides, not from the
main gan/wgan groups, so `dvc exp run -S wgan.clip=0.1` changes the main WGAN but not the sweeps.
Its runs (ganpipe.conditions: the experiment's setting at every seed, its condition map at the
map seeds) train side by side, one process and one thread each: a run's numbers depend on its
seed alone, never on how many runs share the machine (torch's thread count changes the float
rounding), and a third of a small GAN's step is single-threaded overhead that a second thread
does not shorten, so two one-thread runs on two cores do more work than one two-thread run.
Outputs: stages/experiments/NAME/<condition>/seed_<seed>/ (a training stage's layout) and
experiment.json (the runs, their times and the stage's wall time).
"""

from __future__ import annotations

import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from ganpipe import conditions
from ganpipe.files import write_json
from ganpipe.params import Params, ParamsError
from ganpipe.pipeline.train import MNIST, train


MAX_WORKERS = 8


def workers_for(n_jobs: int) -> int:
    """Every run at once (up to MAX_WORKERS): measured on 2 cores, three one-thread runs side by side
    finish sooner than two at a time, and a run left alone at the end would leave a core idle."""
    return max(1, min(n_jobs, MAX_WORKERS))


# The worker processes fork from a server that has imported torch, MLflow and the training code
# once (each import costs seconds, and several processes importing at once on two cores cost
# more); the server itself starts fresh, with nothing of this process's state (an open MLflow
# store, torch threads) to inherit.
PRELOAD = ["torch", "mlflow", "mlflow.tracking", "ganpipe.pipeline.train", "ganpipe.objectives", "ganpipe.loop",
           "ganpipe.tracking", "ganpipe.data"]


def _context():
    ctx = get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _run_job(job: conditions.Job, params: Params, data_path: Path, resume: str, parent: str | None) -> dict:
    """One run in a worker process: the experiment's config at one condition and one seed."""
    timing = train(job.cfg.model, job.cfg, params.model_copy(update={"seed": job.seed}), job.folder,
                   f"experiment-{job.experiment}", data_path, resume, nested_in=parent,
                   tags={"mlflow.runName": f"{job.experiment} {job.condition} seed {job.seed}",
                         "condition": job.condition, "findings_seed": str(job.seed)},
                   progress=False, checkpoints=job.folder.parents[2] / ".checkpoints" / job.experiment / job.condition)
    return {"condition": job.condition, "seed": job.seed, **timing}


def run_experiment(name: str, params: Params, out: Path, data_path: Path = MNIST, resume: str = "auto",
                   workers: int | None = None) -> dict:
    from ganpipe.tracking import stage_run

    experiments = params.findings.experiments
    if name not in experiments:
        raise ParamsError(f"findings.experiments has no experiment {name!r}; defined: {', '.join(sorted(experiments)) or 'none'}")
    exp = experiments[name]
    f = params.findings
    jobs = conditions.jobs(name, exp, f.seeds, f.map_seeds, out)
    workers = workers or workers_for(len(jobs))
    with stage_run(f"experiment-{name}", params, extra=exp) as run:
        began = time.perf_counter()
        with ProcessPoolExecutor(workers, mp_context=_context(), initializer=_one_thread) as pool:
            futures = [pool.submit(_run_job, job, params, data_path, resume, run.run_id) for job in jobs]
            runs = [fut.result() for fut in futures]
        wall = time.perf_counter() - began
        summary = {"experiment": name, "workers": workers, "wall_seconds": round(wall, 3),
                   "train_seconds": round(sum(r["seconds"] for r in runs), 3), "runs": runs}
        write_json(out / "experiment.json", summary)
        run.log_metrics({"wall_seconds": wall, "runs": len(runs), "workers": workers}, 0)
    return summary
