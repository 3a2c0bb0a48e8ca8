"""The `ganpipe bench` result as a plain-text table."""

from __future__ import annotations

from ganpipe.bench.seeds import format_seeds
from ganpipe.bench.startup import format_startup


def format_table(result: dict) -> str:
    """The result as a plain-text report: one block per measurement."""
    m, c = result["machine"], result["config"]
    peak = result["sgemm"]["gflops"]
    lines = [
        f"ganpipe bench: {m['cpu']}, {m['cores']} cores, {m['threads']} torch threads, torch {m['torch']}"
        + "".join(f", {k}={v}" for k, v in m.get("env", {}).items()),
        f"load average (1/5/15 min) before {_load(m['load_before'])}, after {_load(m.get('load_after'))}",
        f"data {c['data']} ({c['n_images']} digits); batch {c['batch_size']}; "
        f"{c['steps']} timed steps per loop in {c['rounds']} alternating rounds, each after {c['warmup']} warm-up steps",
        f"sgemm peak ({result['sgemm']['size']}^2 float32 mm, best of 5): {peak:.1f} GFLOP/s",
        "",
        f"{'training':22s} {'loop':10s} {'images/s':>9s} {'ms/step':>8s} {'median ms':>9s} {'worst ms':>9s} "
        f"{'GFLOP/step':>10s} {'GFLOP/s':>8s} {'of peak':>7s}",
    ]
    for arch, r in result["architectures"].items():
        label = f"{arch} (G {r['generator']}, D {r['discriminator']})"
        for name in ("project", "reference"):
            s = r[name]
            lines.append(f"{label:22s} {name:10s} {s['images_per_s']:9.0f} {s['ms_per_step']:8.1f} "
                         f"{s['median_ms_per_step']:9.1f} {s['worst_step_ms']:9.1f} {s['flops_per_step'] / 1e9:10.3f} "
                         f"{s['gflops']:8.1f} {s['peak_share']:7.1%}")
            label = ""
        rounds = r["round_speedups"]
        lines.append(f"{'':22s} {'ratio':10s} {r['speedup']:8.2f}x   (rounds: {min(rounds):.2f}x-{max(rounds):.2f}x)")
        if "project_bf16" in r:
            s = r["project_bf16"]
            lines.append(f"{'':22s} {'bf16':10s} {s['images_per_s']:9.0f} {s['ms_per_step']:8.1f} "
                         f"{s['median_ms_per_step']:9.1f} {s['worst_step_ms']:9.1f}   "
                         f"(precision: bf16, {r['speedup_bf16']:.2f}x the reference)")
        k = r["kernels"]
        lines.append(f"{'':22s} {'kernels':10s} {'':9s} {k['ms_per_step']:8.1f} {'':9s} {'':9s} {'':10s} "
                     f"{k['gflops']:8.1f} {k['peak_share']:7.1%}   (the step's matmuls/convs alone: "
                     f"{k['step_share']:.0%} of its time)")
    if any("allocator" in r for r in result["architectures"].values()):
        lines += ["", "allocator: the project loop in a fresh process each (keep_freed = ganpipe's mallopt, "
                      "default = GANPIPE_DEFAULT_MALLOC=1)",
                  f"{'arch':8s} {'malloc':11s} {'images/s':>9s} {'ms/step':>8s} {'worst ms':>9s} "
                  f"{'minor faults/step':>18s} {'max RSS MiB':>12s}"]
        for arch, r in result["architectures"].items():
            if "allocator" not in r:
                continue
            a = r["allocator"]
            for name in ("keep_freed", "default"):
                s = a[name]
                lines.append(f"{arch:8s} {name:11s} {s['images_per_s']:9.0f} {s['ms_per_step']:8.1f} "
                             f"{s['worst_step_ms']:9.1f} {s['minor_faults_per_step']:18.1f} {s['max_rss_mib']:12.0f}")
                arch = ""
            lines.append(f"{'':8s} {'ratio':11s} {a['speedup']:8.2f}x")
    if "contention" in result:
        lines += ["", *format_contention(result["contention"])]
    if "startup" in result:
        lines += ["", "start-up: CPU-seconds a fresh process spends before its work (median of 3)", format_startup(result["startup"])]
    if "seeds" in result:
        reference = {"mlp": r["reference"]["images_per_s"] for a, r in result["architectures"].items() if a == "mlp"}
        lines += ["", *format_seeds(result["seeds"], reference)]
    e = result["evaluate"]
    if m.get("load_warning"):
        lines += ["", f"WARNING: {m['load_warning']}"]
    lines += ["", f"scoring {e['n']} vs {e['n']} ({e['classifier']}): embed reference {e['embed_reference_s']:.1f} s, "
                  f"score {e['score_s']:.1f} s, total {e['total_s']:.1f} s"]
    return "\n".join(lines)


def format_contention(result: dict) -> list[str]:
    ganpipe = ", ".join(f"{k}={v}" for k, v in result["settings"]["ganpipe"].items()) or "the user's own"
    lines = [f"contention: the project loop alone, then two at once, fresh processes, {result['threads']} torch "
             f"threads each (ganpipe = {ganpipe}, default = libgomp's)",
             f"{'loop':8s} {'setting':9s} {'alone img/s':>12s} {'pair img/s, each':>18s} {'together / alone':>17s}  rounds"]
    for name in ("mlp", "wgan"):
        label = name
        for setting, r in result.get(name, {}).items():
            each = " / ".join(f"{v:.0f}" for v in r["pair_images_per_s"])
            rounds = ", ".join(f"{v:.2f}x" for v in r["rounds"])
            lines.append(f"{label:8s} {setting:9s} {r['alone_images_per_s']:12.0f} {each:>18s} "
                         f"{r['combined_vs_alone']:16.2f}x  {rounds}")
            label = ""
    return lines


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"
