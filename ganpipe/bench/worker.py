"""The project loop in a fresh process, for the parts of `ganpipe bench` that need one: the
allocator (glibc reads its tuning when a process starts) and contention (OpenMP reads its own
when torch loads, and two processes must share the cores)."""

from __future__ import annotations

import json
import resource
import subprocess
import sys

_ENTRY = "from ganpipe.bench.worker import main; main()"


def main() -> None:
    """Entry point of the subprocess: set up as every ganpipe stage does (`runtime.setup_torch`,
    which applies keep_freed_memory unless GANPIPE_DEFAULT_MALLOC is set), run the project loop,
    print one JSON line. Step times are `time.perf_counter()` readings (CLOCK_MONOTONIC, one
    clock for every process on the machine, so two workers' steps can be lined up); page faults
    are read here, inside the process that takes them."""
    import torch

    from ganpipe.bench.loops import load_images, run_project_loop
    from ganpipe.data.images import to_tensor
    from ganpipe.running.runtime import keep_freed_memory, setup_torch

    spec = json.loads(sys.argv[1])
    applied = keep_freed_memory()
    setup_torch(spec["seed"], "cpu")
    torch.set_num_threads(spec["threads"])
    data = to_tensor(load_images(spec["data"]))
    if spec.get("hold"):  # wait, set up, for the go of `release`: runs started together train together
        print("ready", flush=True)
        sys.stdin.readline()
    clock, _ = run_project_loop(spec["arch"], data, spec["steps"], spec["warmup"], spec["batch_size"], spec["seed"],
                                model=spec.get("model", "gan"))
    print(json.dumps({"times": clock.times, "faults": clock.faults, "mallopt_applied": applied,
                      "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def start(spec: dict, env: dict[str, str]) -> subprocess.Popen:
    """Start one worker on `spec` (arch, model, data, steps, warmup, batch_size, seed, threads;
    with hold: true it sets up, then waits for `release`)."""
    return subprocess.Popen([sys.executable, "-c", _ENTRY, json.dumps(spec)], env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def release(procs: list[subprocess.Popen], what: str) -> None:
    """Once every held worker has set up (imports, data), let them all start training at once."""
    for proc in procs:
        if proc.stdout.readline().strip() != "ready":
            finish(proc, what)  # it failed while setting up: raises with its stderr
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()


def finish(proc: subprocess.Popen, what: str) -> dict:
    """Wait for a worker; its JSON line as a dict, or a RuntimeError naming `what` with its stderr."""
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed ({what}):\n{err[-2000:]}")
    return json.loads(out.strip().splitlines()[-1])


def run(spec: dict, env: dict[str, str], what: str) -> dict:
    """One worker, start to end."""
    return finish(start(spec, env), what)
