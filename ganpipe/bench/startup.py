"""What each kind of process costs before it does any work: CPU-seconds of a fresh interpreter set
up the way ganpipe starts that process, and the heavy packages it has loaded by then.

    python -m ganpipe.bench.startup          # a markdown table (docs/performance.md holds one)

Each kind is a short script run in a fresh interpreter (`sys.executable`), `repeats` times; the
CPU-seconds are its own user + system time (getrusage inside the process, so a child it starts is
not counted and a parallel job on the other core is), the median over the repeats. Kinds that live
inside another process (a pool worker forks from the forkserver) measure the step that is theirs
alone, after their parent's imports, as a difference inside one interpreter.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile

HEAVY = ("torch", "torch._dynamo", "torchvision", "mlflow", "sqlalchemy", "alembic", "pandas", "scipy",
         "matplotlib", "distributed", "sklearn")

_PRELUDE = """
import json, resource, sys, time
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def done(seconds):
    print(json.dumps({"cpu": seconds, "loaded": [m for m in HEAVY if m in sys.modules]}))
HEAVY = %r
""" % (HEAVY,)

# kind -> (what the process is, the script: `done(...)` reports the CPU-seconds that are the kind's)
KINDS: dict[str, tuple[str, str]] = {
    "interpreter": ("python itself, for scale", "done(cpu())"),
    "cli": ("`ganpipe --help`: the command line, before a command runs", "import ganpipe.cli\ndone(cpu())"),
    "stage": ("a stage's process up to its first step of work: the CLI, its MLflow run opened on a sqlite store",
              """
import ganpipe.cli
from ganpipe.params import Params
from ganpipe.running.tracking import stage_run
params = Params.model_validate({"mlflow": {"tracking_uri": "sqlite:///{tmp}/mlflow.db"}})
with stage_run("startup", params):
    done(cpu())
"""),
    "training stage": ("a training stage (train@MODEL, evaluate): the stage, plus torch and the optimizers' first "
                       "step (which imports torch._dynamo)",
                       """
import ganpipe.cli
from ganpipe.params import Params
from ganpipe.running.tracking import stage_run
params = Params.model_validate({"mlflow": {"tracking_uri": "sqlite:///{tmp}/mlflow.db"}})
with stage_run("startup", params):
    import torch
    p = torch.nn.Parameter(torch.zeros(1)); opt = torch.optim.Adam([p]); p.grad = torch.zeros(1); opt.step()
    done(cpu())
"""),
    "forkserver": ("the pool's forkserver: every module it preloads for the workers it forks (once per stage)",
                   """
import importlib
from ganpipe.running.pool import PRELOAD
for name in PRELOAD:
    importlib.import_module(name)
done(cpu())
"""),
    "pool worker": ("one pool worker, forked from the forkserver: its own set-up before its first training step "
                    "(its parent's imports excluded)",
                    """
import importlib
from ganpipe.running.pool import PRELOAD
for name in PRELOAD:
    importlib.import_module(name)
start = cpu()
from ganpipe.running.runtime import prepare_run_process, setup_torch
from ganpipe.params import GANParams
from ganpipe.training.objectives import build
import torchvision.utils
prepare_run_process()
setup_torch(0, "cpu")
build("gan", GANParams(), seed=0)
done(cpu() - start)
"""),
    "dask worker": ("a `dask worker --preload ganpipe.running.cluster`'s process: distributed and the preload",
                    """
import importlib
import distributed
for name in ["ganpipe.running.cluster", *importlib.import_module("ganpipe.running.pool").PRELOAD]:
    importlib.import_module(name)
done(cpu())
"""),
    "score": ("`ganpipe score`'s imports: the CLI, the image readers, the feature classifier and the scores",
              """
import ganpipe.cli
from ganpipe.data.images import read_image_set
from ganpipe.measures.digit_cnn import load_classifier
from ganpipe.measures.evaluation import Reference, equal_n, read_reference
done(cpu())
"""),
}


def measure(kind: str, repeats: int = 3) -> dict:
    """One kind: the median CPU-seconds over `repeats` fresh interpreters, and what it had loaded."""
    what, script = KINDS[kind]
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        code = _PRELUDE + script.replace("{tmp}", tmp)
        for _ in range(repeats):
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp, timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"startup kind {kind!r} failed: {done.stderr.strip().splitlines()[-1]}")
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    cpu = [r["cpu"] for r in runs]
    return {"what": what, "cpu_s": round(statistics.median(cpu), 2), "cpu_s_all": [round(c, 2) for c in cpu],
            "loaded": runs[-1]["loaded"]}


def measure_all(repeats: int = 3) -> dict[str, dict]:
    return {kind: measure(kind, repeats) for kind in KINDS}


def format_startup(result: dict[str, dict]) -> str:
    """A markdown table: each kind, its CPU-seconds before work, what heavy packages it loaded."""
    lines = ["| process | CPU-s before work (median) | heavy packages loaded | what it is |", "| --- | ---: | --- | --- |"]
    for kind, r in result.items():
        lines.append(f"| {kind} | {r['cpu_s']:.2f} | {', '.join(r['loaded']) or '-'} | {r['what']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_startup(measure_all(int(sys.argv[1]) if len(sys.argv) > 1 else 3)))
