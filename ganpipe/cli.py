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

ParamsOption = Annotated[Path, typer.Option("--params", help="Params file to read (every knob, per stage).")]


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
        from ganpipe.files import InputError
        from ganpipe.params import ParamsError
        from ganpipe.tracking import TrackingError

        try:
            return fn(*args, **kwargs)
        except ParamsError as exc:
            raise fail(str(exc), 2) from None
        except (InputError, TrackingError) as exc:
            raise fail(str(exc), 1) from None
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
    from ganpipe import data
    from ganpipe.files import write_json, write_npz
    from ganpipe.tracking import stage_run

    with stage_run("prepare", p, groups=("data",)) as run:
        arrays, info = data.prepare(p.data, p.seed)
        write_npz(out / "mnist.npz", **arrays)
        write_json(out / "data.json", info)
        run.log_artifact(out / "data.json")
    counts = info["counts"]
    typer.echo(f"prepared {counts['train']['total']} train / {counts['test']['total']} test digits from {p.data.source}")


@app.command()
@stage_errors
def ui(
    params: ParamsOption = Path("params.yaml"),
    host: Annotated[str, typer.Option(help="Interface to bind; keep 127.0.0.1 unless you mean to share it.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the UI.")] = 5000,
):
    """Start the MLflow UI on the project's tracking store (bound to 127.0.0.1 by default)."""
    import os

    from ganpipe.tracking import repo_root, tracking_uri

    p = load(params)
    uri = tracking_uri(p.mlflow)
    if uri.startswith(("http://", "https://")):
        raise fail(f"mlflow.tracking_uri is a server ({uri}): open it in a browser instead")
    artifacts = (repo_root() / "mlartifacts").as_uri()
    typer.echo(f"MLflow UI on http://{host}:{port} for {uri}", err=True)
    cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri,
           "--default-artifact-root", artifacts, "--host", host, "--port", str(port)]
    os.execvp(cmd[0], cmd)


def main() -> None:
    app()
