"""The `ganpipe bench` result as a plain-text table."""

from __future__ import annotations


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
    e = result["evaluate"]
    if m.get("load_warning"):
        lines += ["", f"WARNING: {m['load_warning']}"]
    lines += ["", f"scoring {e['n']} vs {e['n']} ({e['classifier']}): embed reference {e['embed_reference_s']:.1f} s, "
                  f"score {e['score_s']:.1f} s, total {e['total_s']:.1f} s"]
    return "\n".join(lines)


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"
