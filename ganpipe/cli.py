"""The `ganpipe` command line: one thin Typer command per DVC stage, plus user tools.

Each stage command reads params, calls the library, writes its outputs atomically. Heavy
libraries (torch, mlflow) are imported inside the commands so that `ganpipe --help` stays fast.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path
from typing import Annotated, Callable

import typer

app = typer.Typer(
    name="ganpipe",
    help="A reproducible GAN-study pipeline: AE, VAE, GAN and WGAN on MNIST, judged claim by claim.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ParamsOption = Annotated[Path, typer.Option("--params", help="Params file to read (every knob, per stage); findings.yaml beside it holds the study's experiments.")]
DataOption = Annotated[Path, typer.Option(help="Prepared data from `ganpipe prepare`.")]
ClassifierOption = Annotated[Path, typer.Option(help="Feature classifier weights.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def stage_errors(fn: Callable) -> Callable:
    """Known failures end as one line on stderr and a non-zero exit; no traceback.

    Bad params exit 2 (nothing has been done yet); bad input data, an unreachable tracking
    store or a diverged run exit 1.
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from ganpipe.params import ParamsError
        from ganpipe.running.files import InputError
        from ganpipe.running.tracking import TrackingError

        try:
            return fn(*args, **kwargs)
        except ParamsError as exc:
            raise fail(str(exc), 2) from None
        except (InputError, TrackingError) as exc:
            raise fail(str(exc), 1) from None
        except Exception as exc:
            from ganpipe.training.loop import Interrupted, TrainingDiverged

            if isinstance(exc, TrainingDiverged):
                raise fail(str(exc), 1) from None
            if isinstance(exc, Interrupted):
                raise fail(str(exc), 130) from None
            raise
        except KeyboardInterrupt:
            raise fail("interrupted; the last checkpoint is kept and the next run resumes from it", 130) from None

    return wrapper


def load(params_path: Path):
    from ganpipe.params import load_params

    return load_params(params_path)


@app.command()
@stage_errors
def prepare(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for mnist.npz and data.json.")] = Path("stages/prepare"),
):
    """Read MNIST from data.source (bundled | torchvision | idx) and write a seeded train/test split."""
    p = load(params)
    from ganpipe.pipeline.prepare import prepare_data

    info = prepare_data(p, out)
    counts = info["counts"]
    typer.echo(f"prepared {counts['train']['total']} train / {counts['test']['total']} test digits from {p.data.source}")


@app.command("train-classifier")
@stage_errors
def train_classifier(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for classifier.pt and metrics.json.")] = Path("stages/classifier"),
    data: DataOption = Path("stages/prepare/mnist.npz"),
):
    """Train the feature CNN behind FID, precision/recall, density/coverage and mode counts."""
    p = load(params)
    from ganpipe.pipeline.classifier import train_feature_classifier

    metrics = train_feature_classifier(p, out, data)
    typer.echo(f"classifier: test accuracy {metrics['test_accuracy']:.4f} on {metrics['n_test']} held-out digits")


TRAINED = {
    "ae": "Train the autoencoder (params group `ae`); decoding N(0, I) codes shows why it cannot generate.",
    "vae": "Train the VAE (params group `vae`): N(0, I) prior, reparameterisation, ELBO = recon + beta * KL.",
    "gan": "Train the GAN (params group `gan`): generator fc | conv3 | conv5 | upsample, BCE, d_steps per G step.",
    "wgan": "Train the WGAN (params group `wgan`): critic under constraint clip | gp | sn, n_critic per G step.",
}


def _train_command(model: str):
    def command(
        params: ParamsOption = Path("params.yaml"),
        out: Annotated[Path, typer.Option(help="Folder for weights, samples, history and grids.")] = Path(f"stages/{model}"),
        data: DataOption = Path("stages/prepare/mnist.npz"),
        resume: Annotated[bool, typer.Option("--resume", help="Require a checkpoint of these params and continue it.")] = False,
        fresh: Annotated[bool, typer.Option("--fresh", help="Ignore any checkpoint and start from step 0.")] = False,
    ):
        p = load(params)
        from ganpipe.pipeline.train import train_model

        timing = train_model(model, p, out, data, resume="require" if resume else "fresh" if fresh else "auto")
        typer.echo(f"trained {model}: {timing['steps']} steps in {timing['seconds']:.1f} s -> {out}")

    command.__doc__ = TRAINED[model] + " Resumes automatically from a checkpoint of the same params."
    app.command(name=f"train-{model}")(stage_errors(command))


for _model in TRAINED:
    _train_command(_model)


@app.command("run-experiment")
@stage_errors
def run_experiment(
    name: Annotated[str, typer.Argument(help="A key of findings.experiments in findings.yaml.")],
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[Path | None, typer.Option(help="Output folder [default: stages/experiments/NAME].")] = None,
    data: DataOption = Path("stages/prepare/mnist.npz"),
    fresh: Annotated[bool, typer.Option("--fresh", help="Ignore any checkpoint and start from step 0.")] = False,
):
    """Train one experiment behind a finding (findings.experiments.NAME) at every seed and condition;
    a run the run cache holds ($GANPIPE_RUN_CACHE, else ~/.cache/ganpipe/runs) is restored, not trained."""
    p = load(params)
    from ganpipe.pipeline.experiment import run_experiment as run

    summary = run(name, p, out or Path("stages/experiments") / name, data, resume="fresh" if fresh else "auto")
    typer.echo(f"experiment {name}: {len(summary['runs'])} runs, {summary['restored']} restored from the run cache, "
               f"{summary['trained']} trained ({summary['workers']} at a time) in {summary['wall_seconds']:.1f} s, "
               f"{summary['train_seconds']:.1f} s of training")


cache_app = typer.Typer(help="The run cache: every findings run trained once ($GANPIPE_RUN_CACHE, else "
                             "~/.cache/ganpipe/runs; GANPIPE_RUN_CACHE=off trains every run).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("list")
@stage_errors
def cache_list(as_json: Annotated[bool, typer.Option("--json", help="The summary as JSON.")] = False):
    """The cached runs: how many and how large, by experiment."""
    import json

    from ganpipe.running.runcache import RunCache, folder, human_bytes

    path = folder()
    if path is None:
        raise fail("the run cache is off (GANPIPE_RUN_CACHE=off)")
    cache = RunCache(path)
    try:
        summary = cache.summary()
    finally:
        cache.close()
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"run cache {summary['folder']}: {summary['runs']} runs, {human_bytes(summary['bytes'])}")
    for name, entry in summary["experiments"].items():
        typer.echo(f"  {name:<24} {entry['runs']:>4} runs  {human_bytes(entry['bytes']):>10}")


@cache_app.command("prune")
@stage_errors
def cache_prune(
    params: ParamsOption = Path("params.yaml"),
    everything: Annotated[bool, typer.Option("--all", help="Drop every entry, not only those the params no longer name.")] = False,
):
    """Drop the cached runs that no experiment of findings.yaml names (its config, seed, samples and
    device), or every run with --all. Entries of other commits or CPU kinds of a named run stay."""
    from ganpipe.pipeline.experiment import named_runs
    from ganpipe.running.runcache import RunCache, folder, human_bytes

    path = folder()
    if path is None:
        raise fail("the run cache is off (GANPIPE_RUN_CACHE=off)")
    keep = None if everything else named_runs(load(params))
    cache = RunCache(path)
    try:
        before = cache.summary()
        dropped = cache.prune(keep)
        after = cache.summary()
    finally:
        cache.close()
    typer.echo(f"run cache {path}: dropped {dropped} of {before['runs']} runs "
               f"({human_bytes(before['bytes'] - after['bytes'])}); {after['runs']} left")


@app.command()
@stage_errors
def evaluate(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for metrics.json.")] = Path("stages/evaluate"),
    data: DataOption = Path("stages/prepare/mnist.npz"),
    classifier: ClassifierOption = Path("stages/classifier/classifier.pt"),
    stages: Annotated[Path, typer.Option(help="Folder holding <model>/samples.npz of ae, vae, gan, wgan.")] = Path("stages"),
):
    """Score every model's samples (FID, precision/recall, density/coverage, modes, artifacts) against real digits."""
    p = load(params)
    from ganpipe.pipeline.evaluate import MODELS, evaluate_models

    result = evaluate_models(p, out, data, classifier, stages)
    summary = ", ".join(f"{m} {result[m]['fid']:.2f}" for m in ("real", *MODELS))
    typer.echo(f"FID at n={result['n']}: {summary}")


@app.command()
@stage_errors
def controls(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for controls.json.")] = Path("stages/controls"),
    data: DataOption = Path("stages/prepare/mnist.npz"),
):
    """Prove every artifact measure on its positive and negative controls (real test digits) and set its line."""
    p = load(params)
    from ganpipe.pipeline.controls import prove_measures

    result = prove_measures(p, out, data)
    typer.echo(f"{sum(c['separates'] for c in result.values())} of {len(result)} measures separate their controls")


@app.command("main-models")
@stage_errors
def main_models(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for readings.json and page.md.")] = Path("stages/main_models"),
    stages: Annotated[Path, typer.Option(help="Folder holding the other stages' outputs.")] = Path("stages"),
):
    """Read the main GAN and WGAN, as your knobs trained them, in the note's terms: a short page and the numbers
    `dvc exp show` puts beside the knobs (no findings experiment runs)."""
    p = load(params)
    from ganpipe.pipeline.main_models import read_knobs

    readings = read_knobs(p, out, stages)
    for model, r in readings.items():
        typer.echo(f"{model}: " + "; ".join(v["words"] for k, v in r.items() if k != "knobs"))
    typer.echo(f"wrote {out / 'page.md'}")


@app.command()
@stage_errors
def findings(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for findings.json and evidence.json.")] = Path("stages/findings"),
    stages: Annotated[Path, typer.Option(help="Folder holding the other stages' outputs.")] = Path("stages"),
    data: DataOption = Path("stages/prepare/mnist.npz"),
    classifier: ClassifierOption = Path("stages/classifier/classifier.pt"),
):
    """Judge each of the note's claims (F1-F7): prove the measures on their controls and the trained rule on
    runs of known state, then judge every seed and condition."""
    p = load(params)
    from ganpipe.pipeline.findings import run_findings

    result = run_findings(p, out, stages, data, classifier)
    for claim, record in result.items():
        typer.echo(f"{claim:4s} {record['verdict']}")


@app.command()
@stage_errors
def report(
    params: ParamsOption = Path("params.yaml"),
    out: Annotated[Path, typer.Option(help="Folder for report.md and figures/.")] = Path("reports"),
    stages: Annotated[Path, typer.Option(help="Folder holding the other stages' outputs.")] = Path("stages"),
):
    """Render reports/report.md: every model, every claim with its numbers and figure, provenance."""
    p = load(params)
    from ganpipe.pipeline.report import write_report

    typer.echo(f"wrote {write_report(p, out, stages)}")


@app.command()
@stage_errors
def score(
    samples: Annotated[Path, typer.Argument(help="Images to score: .npz with `images` (optional `labels`), a PNG folder or an IDX file.")],
    reference: Annotated[Path, typer.Argument(help="Real images, in any of the same formats; of a prepared "
                                                   "mnist.npz, its test split.")],
    classifier: ClassifierOption = Path("stages/classifier/classifier.pt"),
    k: Annotated[int, typer.Option(min=1, help="Nearest neighbours for precision/recall/density/coverage.")] = 5,
):
    """Every measure of `evaluate` for any image set against a reference, as JSON (compared at equal n)."""
    import json

    from ganpipe.data.images import read_image_set
    from ganpipe.measures.digit_cnn import load_classifier
    from ganpipe.measures.evaluation import Reference, equal_n, read_reference

    images, labels = read_image_set(samples)
    ref_images = read_reference(reference)
    n = equal_n(len(images), len(ref_images))
    if n < max(k + 1, 2):
        raise fail(f"{samples}: {n} images after matching sizes; need at least {max(k + 1, 2)}")
    result = Reference(load_classifier(classifier), ref_images[:n], k=k).score(
        images[:n], None if labels is None else labels[:n])
    typer.echo(json.dumps({"n": n, **result}, indent=2))


@app.command()
@stage_errors
def compare(
    a: Annotated[Path, typer.Argument(help="A findings.json (stages/findings/ of one study).")],
    b: Annotated[Path, typer.Argument(help="Another findings.json: the same params on another machine or commit.")],
    a_name: Annotated[str, typer.Option(help="Column name for A.")] = "A",
    b_name: Annotated[str, typer.Option(help="Column name for B.")] = "B",
):
    """Two studies' findings side by side: verdicts, the seeds whose outcome parted, the validity
    checks that parted, and how far the numbers moved (markdown on stdout)."""
    import json

    from ganpipe.running.files import InputError
    from ganpipe.study.compare import as_markdown, compare as compare_findings

    records = []
    for path in (a, b):
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable findings.json ({exc.__class__.__name__}); "
                             "expected stages/findings/findings.json of a study") from None
        if not isinstance(record, dict) or not all(isinstance(r, dict) and "verdict" in r for r in record.values()):
            raise InputError(f"{path}: not a findings.json: expected one record with a verdict per claim")
        records.append(record)
    typer.echo(as_markdown(compare_findings(*records), a_name, b_name))


@app.command()
@stage_errors
def bench(
    steps: Annotated[int, typer.Option(min=1, help="Timed training steps per loop and architecture.")] = 300,
    warmup: Annotated[int, typer.Option(min=0, help="Untimed steps at the start of every round (the same for both).")] = 20,
    rounds: Annotated[int, typer.Option(min=1, help="Turns each loop takes, alternating, so VM speed drift hits both alike.")] = 5,
    bf16: Annotated[bool, typer.Option("--bf16/--no-bf16", help="Also time the project loop with precision: bf16.")] = True,
    batch_size: Annotated[int, typer.Option(min=1, help="Images per training step, for both loops.")] = 64,
    out: Annotated[Path, typer.Option(help="JSON file for the results (written atomically).")] = Path("stages/bench/bench.json"),
    data: Annotated[Path | None, typer.Option(help="Digits to train and score on: IDX, .npz or PNG folder "
                                              "(default: the shared MNIST t10k file if present, else the bundled digits).")] = None,
    classifier: Annotated[Path | None, typer.Option(help="Trained feature classifier for the scoring part "
                                                    "(default: an untrained one; speed does not depend on the weights).")] = None,
    eval_n: Annotated[int, typer.Option(min=6, help="Images on each side of the scoring benchmark (n vs n).")] = 10_000,
    arch: Annotated[list[str] | None, typer.Option(help="Architecture to train, repeatable: mlp, conv5 (default: both).")] = None,
    threads: Annotated[int | None, typer.Option(min=1, help="Torch threads for every part (default: torch's, one per core).")] = None,
):
    """Throughput of the project's training loop against a plain DataLoader loop, its share of the
    machine's matmul peak, and 10k-vs-10k scoring time (docs/design.md section 6)."""
    from ganpipe.bench import ARCHITECTURES, BenchConfig, format_table, run_bench
    from ganpipe.running.files import write_json

    unknown = [a for a in arch or () if a not in ARCHITECTURES]
    if unknown:
        raise fail(f"--arch {unknown[0]!r} is not allowed; allowed: {', '.join(ARCHITECTURES)}", 2)
    cfg = BenchConfig(steps=steps, warmup=warmup, rounds=rounds, bf16=bf16, batch_size=batch_size,
                      archs=tuple(arch or ARCHITECTURES), data=data, classifier=classifier, eval_n=eval_n, threads=threads)
    result = run_bench(cfg, progress=lambda message: typer.echo(message, err=True))
    write_json(out, result)
    typer.echo(format_table(result))
    typer.echo(f"wrote {out}")


@app.command()
@stage_errors
def ui(
    params: ParamsOption = Path("params.yaml"),
    host: Annotated[str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless you mean to share it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the UI.")] = 5000,
    # MLflow's own default is 4 server processes, each loading MLflow at start (seconds of CPU apiece),
    # for what one reader's browser asks
    workers: Annotated[int, typer.Option(min=1, help="Server processes (raise it to share the UI).")] = 1,
):
    """Start the MLflow UI on the project's tracking store (bound to 127.0.0.1 by default)."""
    import subprocess

    from ganpipe.running.tracking import repo_root, tracking_uri, training_view_url

    p = load(params)
    uri = tracking_uri(p.mlflow)
    if uri.startswith(("http://", "https://")):
        raise fail(f"mlflow.tracking_uri is a server ({uri}): open it in a browser instead")
    artifacts = (repo_root() / "mlartifacts").as_uri()
    base = f"http://{host}:{port}"
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--default-artifact-root", artifacts, "--host", host, "--port", str(port),
           "--workers", str(workers)]
    # the server takes seconds to a minute to answer (it loads MLflow and walks the store's
    # migrations): say so, and give the address once it answers, not while it refuses connections
    typer.echo(f"MLflow UI for {uri}: starting the server on {base} ...", err=True)
    server = subprocess.Popen(cmd)
    try:
        if not _answers(f"{base}/health", server):
            raise fail(f"the MLflow server for {uri} ended (exit code {server.returncode}) before it answered on {base}")
        typer.echo(f"MLflow UI ready; the runs with their measures and knobs: "
                   f"{training_view_url(base, uri, p.mlflow.experiment)}", err=True)
        # MLflow's UI opens its Assistant panel on a browser's first visit to localhost, by no setting ganpipe can turn
        typer.echo("MLflow opens its Assistant panel on a browser's first visit: close it once and it stays closed",
                   err=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait()


def _answers(url: str, server, every: float = 0.5) -> bool:
    """Wait until `url` answers; False if the server process ends first."""
    import time
    import urllib.request

    while server.poll() is None:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:
            time.sleep(every)
    return False


def _terminated(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    import signal

    from ganpipe.running.runtime import share_cores_fairly

    share_cores_fairly()  # before any command imports torch: OpenMP reads it when it loads
    # SIGTERM (`kill`, a scheduler's time limit) stops a command as Ctrl-C does: the runs in flight
    # keep their checkpoints and the stage ends its worker processes instead of leaving them orphaned
    signal.signal(signal.SIGTERM, _terminated)
    app()
