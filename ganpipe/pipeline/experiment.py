"""Stage experiment@NAME: one training run that a finding needs (strong discriminator, clip sweep,
output heads, the upsample generator), configured in params.yaml under findings.experiments.NAME.

Each experiment starts from the model's built-in defaults plus its own overrides, not from the
main gan/wgan groups, so `dvc exp run -S wgan.clip=0.1` changes the main WGAN but not the sweeps.
Outputs have the layout of the training stages, under stages/experiments/NAME/.
"""

from __future__ import annotations

from pathlib import Path

from ganpipe.params import Params, ParamsError
from ganpipe.pipeline.train import MNIST, train


def run_experiment(name: str, params: Params, out: Path, data_path: Path = MNIST, resume: str = "auto") -> dict:
    experiments = params.findings.experiments
    if name not in experiments:
        raise ParamsError(f"findings.experiments has no experiment {name!r}; defined: {', '.join(sorted(experiments)) or 'none'}")
    cfg = experiments[name]
    return train(cfg.model, cfg, params, out, f"experiment-{name}", data_path, resume)
