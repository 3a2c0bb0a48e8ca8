"""One training run, from a config to a folder of outputs: the data in, the checkpoint to resume
from, the MLflow run, the loop, and the files every training run leaves (docs/design.md section 3).

Outputs: the nets' state dicts, samples.npz (evaluate.n_samples images from fixed codes),
history.csv (per-log-step losses and diagnostics), snapshots.npz and grids/ (the fixed-noise
samples over training), grid.png (the last grid), train.json (timing) and, for the AE and VAE,
reconstructions.png (test digits above their reconstructions). The main models' stage
(ganpipe.pipeline.train) and every findings experiment's run (ganpipe.pipeline.experiment) train here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ganpipe.params import Params
from ganpipe.running.files import InputError, save_torch, write_bytes, write_json, write_npz, write_text

NET_FILES = {"generator": "generator.pt", "discriminator": "discriminator.pt", "critic": "critic.pt",
             "autoencoder": "autoencoder.pt"}


def checkpoint_path(out: Path, model: str, digest: str, checkpoints: Path | None = None) -> Path:
    """Checkpoints live beside the stage folder (DVC clears outputs before a stage runs), or in
    `checkpoints`, a folder outside the stage's outputs."""
    return (checkpoints or out.parent / ".checkpoints") / f"{out.name}-{model}-{digest}.pt"


def train(model: str, cfg, params: Params, out: Path, stage: str, data_path: Path, resume: str = "auto",
          should_stop=None, record=None, progress: bool | None = None, checkpoints: Path | None = None) -> dict:
    """Train `model` with config `cfg` (a params group or a findings experiment); returns train.json's dict.

    Its MLflow calls go to the stage's own run, opened here (a main model's stage), or, given a
    `record` (tracking.RunRecord of a run the stage opened), are kept there for the stage to log:
    a findings run in a worker process never opens the store."""
    from contextlib import nullcontext

    import torch

    from ganpipe.data.images import grid_png, to_tensor
    from ganpipe.data.mnist import load_split
    from ganpipe.running.runtime import setup_torch
    from ganpipe.training.loop import fit, history_csv
    from ganpipe.training.objectives import build

    device = setup_torch(params.seed, params.device)
    if device.type != "cpu":  # (a default-device mode costs ~7% per step on the CPU, so only when needed)
        torch.set_default_device(device)
    data = to_tensor(load_split(data_path, "train").images).to(device)
    digest = params.digest_of(cfg)
    checkpoint = checkpoint_path(out, model, digest, checkpoints)
    if resume == "fresh":
        checkpoint.unlink(missing_ok=True)
    elif resume == "require" and not checkpoint.exists():
        raise InputError(f"{checkpoint}: no checkpoint of these params to resume from")

    if record is None:
        from ganpipe.running.tracking import stage_run

        tracked = stage_run(stage, params, groups=(model,))
    else:
        tracked = nullcontext(record)
    with tracked as run:
        def on_grid(png: bytes, step: int) -> None:
            path = out / "grids" / f"step_{step:06d}.png"
            write_bytes(path, png)
            run.log_artifact(path, "grids")

        objective = build(model, cfg, seed=params.seed)
        for net in objective.nets.values():
            net.to(device)
        data = objective.space.from_canonical(data)  # the size and range this model trains at
        result = fit(objective, data, cfg, seed=params.seed, digest=digest, checkpoint=checkpoint,
                     stop_on_nan=getattr(cfg, "stop_on_nan", True), on_log=run.log_metrics, on_grid=on_grid,
                     should_stop=should_stop, progress=progress)

        for name, net in objective.nets.items():
            save_torch(out / NET_FILES[name], {k: v.cpu() for k, v in net.state_dict().items()})
        for step, images in sorted(result.snapshots.items()):
            # grids drawn before an interrupt are gone if DVC has cleared the folder since: redraw them
            if not (out / "grids" / f"step_{step:06d}.png").exists():
                on_grid(grid_png(to_tensor(images[:64])), step)
        samples = generate_samples(objective, params.evaluate.n_samples, params.seed)
        write_npz(out / "samples.npz", images=samples)
        write_text(out / "history.csv", history_csv(result.history))
        steps = sorted(result.snapshots)
        write_npz(out / "snapshots.npz", steps=np.array(steps), images=np.stack([result.snapshots[s] for s in steps]))
        last_grid = out / "grids" / f"step_{steps[-1]:06d}.png"
        write_bytes(out / "grid.png", last_grid.read_bytes())
        if hasattr(objective, "reconstruct"):
            write_bytes(out / "reconstructions.png", reconstruction_grid(objective, data_path))
            run.log_artifact(out / "reconstructions.png")
        timing = {
            "steps": cfg.steps,
            "steps_run": result.steps_run,
            "resumed_from": result.resumed_from,
            "seconds": round(result.seconds, 3),
            "seconds_per_step": round(result.seconds / max(result.steps_run, 1), 5),
            "mlflow_run_id": run.run_id,  # evaluate adds the model's scores to this run
        }
        write_json(out / "train.json", timing)
        if record is None:  # the main models, loadable from MLflow (not the findings' variants)
            codes = torch.randn(4, objective.latent, generator=torch.Generator().manual_seed(0))
            for name, net in served_nets(objective).items():
                run.log_model(name, net, codes if name == "generator" else to_tensor(samples[:4]))
        run.log_artifact(out / "grid.png")
        run.log_metrics({"train_seconds": timing["seconds"], "seconds_per_step": timing["seconds_per_step"]}, cfg.steps)
    checkpoint.unlink(missing_ok=True)
    return timing


def served_nets(objective) -> dict:
    """The nets a training stage logs as MLflow models: its generator (codes -> images in [-1, 1];
    an autoencoder's decoder) and a GAN's discriminator or WGAN's critic (images -> one score)."""
    from ganpipe.training.models import Decoder

    if hasattr(objective, "model"):
        return {"generator": Decoder(objective.model)}
    return dict(objective.nets)


def reconstruction_grid(objective, data_path: Path, n: int = 32) -> bytes:
    """PNG: n held-out test digits in the top rows, their reconstructions below."""
    import torch

    from ganpipe.data.images import grid_png, to_tensor
    from ganpipe.data.mnist import load_split

    device = next(objective.model.parameters()).device
    real = to_tensor(load_split(data_path, "test").images[:n]).to(device)
    objective.model.eval()
    return grid_png(torch.cat([real, objective.reconstruct(real)]).cpu())


def generate_samples(objective, n: int, seed: int, batch: int = 500) -> np.ndarray:
    """n images from fixed codes (seed-derived), uint8 N x 28 x 28."""
    import torch

    from ganpipe.data.images import to_uint8

    g = torch.Generator().manual_seed(seed + 2)
    z = torch.randn(n, objective.latent, generator=g)
    for net in objective.nets.values():
        net.eval()
    device = next(next(iter(objective.nets.values())).parameters()).device
    return np.concatenate([to_uint8(objective.generate(z[i : i + batch].to(device))) for i in range(0, n, batch)])
