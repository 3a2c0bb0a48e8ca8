"""What the training-based claims read: each run's outputs, their scores and snapshot measures
(loaded once), and the pieces several claims share (a series cut at a step, the last third of
training, the clip sweep, the output heads). Each claim's own evidence is in ganpipe.study.claims.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ganpipe.measures import metrics
from ganpipe.measures.digit_cnn import FeatureClassifier
from ganpipe.params import cell_config
from ganpipe.running.files import InputError, load_npz, load_torch, write_json
from ganpipe.running.runtime import one_thread
from ganpipe.study import conditions
from ganpipe.study.mechanisms import offset_response

# The output heads' experiments (F4, F4b, F4c; F5's baseline); the F3 sweep is every experiment
# whose name starts with "f3_clip".
HEADS = {"fc": "f4_fc", "conv3": "f4_conv3", "conv5": "f4_conv5"}
SWEEP_PREFIX = "f3_clip"
PAPER_CLIP = 0.01
TAIL_STEPS = 50  # "final" losses: mean over the last TAIL_STEPS training steps, whatever log_every is


def read_history(path: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path)
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (run the training stage first)") from None
    return {c: frame[c].to_numpy() for c in frame.columns}


class Run:
    """One trained run's outputs (a training stage or a findings experiment)."""

    def __init__(self, folder: Path):
        self.folder = folder
        if not (folder / "train.json").exists():
            raise InputError(f"{folder}: no finished run here (run `dvc repro` for its experiment stage first)")
        self.history = read_history(folder / "history.csv")
        snaps = load_npz(folder / "snapshots.npz", required=("steps", "images"))
        self.snapshot_steps, self.snapshots = snaps["steps"], snaps["images"]
        self.samples = load_npz(folder / "samples.npz", required=("images",))["images"]
        self.timing = json.loads((folder / "train.json").read_text())

    def final(self, key: str) -> float:
        """Mean of `key` over the history rows of the last TAIL_STEPS steps (each row is the mean
        of its log_every steps; at least the last row)."""
        steps = self.history["step"]
        tail = steps > steps[-1] - TAIL_STEPS
        return float(np.mean(self.history[key][tail]))


def snapshot_series(run: Run, clf: FeatureClassifier, real_feats: np.ndarray, peak_max: float) -> dict[str, list]:
    """Measures of the fixed-noise snapshots at each grid step: how a run's samples evolve. The
    emboss score is also taken as the note's display would show the samples (autoscaled per image)."""
    from ganpipe.measures.controls import autoscaled

    n = min(len(real_feats), run.snapshots.shape[1])
    series: dict[str, list] = {"step": run.snapshot_steps.tolist(), "fid": [], "confidence": [], "modes": [],
                               "top_class_share": [], "black_fraction": [], "emboss_score_autoscaled": []}
    for images in run.snapshots:
        feats, probs = clf.embed(images[:n])
        series["fid"].append(metrics.fid(real_feats[:n], feats))
        series["confidence"].append(float(probs.max(1).mean()))
        classes = metrics.mode_stats(probs)
        series["modes"].append(classes["modes"])
        series["top_class_share"].append(classes["top_class_share"])
        series["black_fraction"].append(metrics.black_fraction(images[:n], peak_max))
        series["emboss_score_autoscaled"].append(metrics.emboss_score(autoscaled(images[:n])))
        for name, value in metrics.artifact_measures(images[:n]).items():
            series.setdefault(name, []).append(value)
    return series


# The code a series depends on besides its run's snapshots and the meter's inputs: a change to any
# of these modules changes every cached series' key
MEASURE_MODULES = ("ganpipe.study.evidence", "ganpipe.measures.metrics", "ganpipe.measures.controls",
                   "ganpipe.measures.digit_cnn", "ganpipe.data.images", "ganpipe.running.runtime")


@dataclass(frozen=True)
class SnapshotMeter:
    """What a run's snapshot series is measured with: the feature classifier, the real digits'
    features and the black-image limit. `many` measures runs in worker processes, one per core:
    each series is a run's own work and takes a few seconds. Every series is measured on one
    thread, so it has the same bits in a worker or in this process, on any machine.

    With a `cache` folder, a series measured once is read back when the run's snapshots, the
    classifier, the real features, the limit and the measuring code are all the same bytes (a
    SHA-256 of all of them names the file): a findings stage re-run after one model changed (`dvc
    exp run -S wgan.clip=0.1`) measures that model's series alone. A cached series is the JSON of
    the same floats, so the findings do not depend on whether the cache was warm."""

    classifier_path: Path
    real_feats: np.ndarray
    peak_max: float
    cache: Path | None = None
    _keys: dict = field(default_factory=dict, init=False, repr=False, compare=False)  # folder -> entry name

    def one(self, folder: Path) -> dict:
        return self.many([folder])[folder]

    def many(self, folders: list[Path]) -> dict[Path, dict]:
        found = {folder: self._cached(folder) for folder in folders}
        todo = [folder for folder, series in found.items() if series is None]
        # through JSON as a cached one is read back: the same floats, and the same key order
        measured = {folder: json.loads(json.dumps(series, sort_keys=True))
                    for folder, series in zip(todo, self._measure_all(todo))}
        for folder, series in measured.items():
            self._store(folder, series)
        return found | measured

    def prune(self, keep: list[Path]) -> None:
        """Drop the cached series of runs other than `keep` (the runs of this findings stage)."""
        if self.cache is None or not self.cache.is_dir():
            return
        wanted = {self._key(folder) + ".json" for folder in keep}
        for entry in self.cache.glob("*.json"):
            if entry.name not in wanted:
                entry.unlink(missing_ok=True)

    def _measure(self, folder: Path) -> dict:
        with one_thread():
            return snapshot_series(Run(folder), _classifier(self.classifier_path), self.real_feats, self.peak_max)

    def _measure_all(self, folders: list[Path]) -> list[dict]:
        import os
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        if len(folders) < 2:
            return [self._measure(folder) for folder in folders]
        ctx = get_context("forkserver")  # a fresh process, not a fork of this one's torch threads
        ctx.set_forkserver_preload(["torch", "ganpipe.study.evidence", "ganpipe.measures.digit_cnn"])
        workers = min(len(folders), len(os.sched_getaffinity(0)))
        with ProcessPoolExecutor(workers, mp_context=ctx) as pool:
            return list(pool.map(self._measure, folders))

    @functools.cached_property
    def _inputs_digest(self) -> bytes:
        """Everything a series depends on except the run's own snapshots."""
        import importlib

        h = hashlib.sha256()
        h.update(Path(self.classifier_path).read_bytes())
        feats = np.ascontiguousarray(self.real_feats)
        h.update(f"{feats.dtype}{feats.shape}{self.peak_max!r}".encode())
        h.update(feats.tobytes())
        for module in MEASURE_MODULES:
            h.update(Path(importlib.import_module(module).__file__).read_bytes())
        return h.digest()

    def _key(self, folder: Path) -> str:
        """The cache entry's name for this run ("" if it has no snapshots), hashed once per folder."""
        if folder not in self._keys:
            snapshots = folder / "snapshots.npz"
            self._keys[folder] = (hashlib.sha256(self._inputs_digest + snapshots.read_bytes()).hexdigest()
                                  if snapshots.is_file() else "")
        return self._keys[folder]

    def _cached(self, folder: Path) -> dict | None:
        if self.cache is None:
            return None
        key = self._key(folder)
        entry = self.cache / f"{key}.json"
        return json.loads(entry.read_text()) if key and entry.is_file() else None

    def _store(self, folder: Path, series: dict) -> None:
        if self.cache is not None:
            write_json(self.cache / f"{self._key(folder)}.json", series)


_classifiers: dict[Path, FeatureClassifier] = {}


def _classifier(path: Path) -> FeatureClassifier:
    """The classifier at `path`, loaded once per process."""
    from ganpipe.measures.digit_cnn import load_classifier

    if path not in _classifiers:
        _classifiers[path] = load_classifier(path)
    return _classifiers[path]


class Runs:
    """Every run of the findings experiments (and any other run folder, by path), loaded once,
    with its snapshot measures."""

    def __init__(self, stages: Path, meter: SnapshotMeter):
        self.stages, self.meter = stages, meter
        self._runs: dict[Path, Run] = {}
        self._series: dict[Path, dict] = {}
        self._histograms: dict[tuple, dict] = {}
        self._offsets: dict[tuple, float] = {}

    def folder(self, name: str, condition: str, seed: int) -> Path:
        return conditions.run_folder(self.stages / "experiments" / name, condition, seed)

    def run(self, name: str, condition: str, seed: int) -> Run:
        folder = self.folder(name, condition, seed)
        if folder not in self._runs:
            self._runs[folder] = Run(folder)
        return self._runs[folder]

    def series(self, name: str, condition: str, seed: int) -> dict:
        return self.series_at(self.folder(name, condition, seed))

    def series_at(self, folder: Path) -> dict:
        if folder not in self._series:
            self._series[folder] = self.meter.one(folder)
        return self._series[folder]

    def measure(self, folders: list[Path]) -> None:
        """Measure these runs' series at once, across processes (what `series` then returns)."""
        self._series |= self.meter.many([f for f in dict.fromkeys(folders) if f not in self._series])

    def offset_response(self, name: str, condition: str, seed: int, cfg, offset: float) -> float:
        """How much the run's final critic scores its final samples lower when lifted by `offset`
        (ganpipe.study.mechanisms.offset_response)."""
        key = (name, condition, seed, offset)
        if key not in self._offsets:
            run = self.run(name, condition, seed)
            self._offsets[key] = offset_response(load_torch(run.folder / "critic.pt"), cfg, run.samples, offset)
        return self._offsets[key]

    def histogram(self, name: str, condition: str, seed: int, clip: float) -> dict:
        """The run's critic weights over [-c, c] and its share at the boundary (a WGAN with clipping)."""
        key = (name, condition, seed)
        if key not in self._histograms:
            self._histograms[key] = metrics.weight_histogram(load_torch(self.run(*key).folder / "critic.pt"), clip)
        return self._histograms[key]


@dataclass(frozen=True)
class Context:
    """What every claim's evidence may read besides the runs: the real digits' measures, the clip
    sweep, FLOPs per training step, where F4's digits count as formed, and each run's config. (Thresholds
    are not evidence: the judges get them.)"""

    real: dict
    sweep: list[str]
    clips: dict[str, float]
    flops: dict[str, int]
    formed_within: float
    experiments: dict | None = None  # findings.experiments: each run's config, for readings of its nets

    def config(self, name: str, condition: str):
        """The config a run of this experiment and condition trained with."""
        exp = self.experiments[name]
        return cell_config(exp, exp.cells().get(condition, {}))


def upto(s: dict, step: int) -> dict:
    """The snapshot series cut at `step`: what the run showed at that point of training."""
    keep = [i for i, t in enumerate(s["step"]) if t <= step]
    return {k: [v[i] for i in keep] for k, v in s.items()}


def at(s: dict, key: str, step: int) -> float:
    """The value of `key` at the snapshot closest to `step`."""
    i = int(np.argmin(np.abs(np.array(s["step"]) - step)))
    return float(s[key][i])


def late_steps(s: dict) -> list[int]:
    """The snapshot steps in the last third of training: where a verdict must already be settled."""
    last = s["step"][-1]
    return [int(t) for t in s["step"] if t >= 2 * last / 3]


def history_upto(run: Run, step: int) -> dict[str, np.ndarray]:
    keep = run.history["step"] <= step
    return {k: v[keep] for k, v in run.history.items()}


def formed_step(s: dict, within: float) -> int:
    """The first snapshot whose FID is within `within` x the median FID of the last third: the
    step from which the run's digits have their final form (the note's "shapes after 600 batches")."""
    late = [f for t, f in zip(s["step"], s["fid"]) if t >= 2 * s["step"][-1] / 3]
    level = within * float(np.median(late))
    return int(next(t for t, f in zip(s["step"], s["fid"]) if f <= level))


def sweep(runs: Runs, cond: str, seed: int, ctx: Context) -> tuple[dict, str, str]:
    """The clip sweep (F3, F3b): each clip's share of critic parameters at +-c, and which experiments
    hold the paper's clip and the largest one."""
    shares = {str(ctx.clips[n]): runs.histogram(n, cond, seed, ctx.clips[n])["boundary_share"] for n in ctx.sweep}
    paper = min(ctx.sweep, key=lambda n: abs(np.log(ctx.clips[n] / PAPER_CLIP)))
    largest = max(ctx.sweep, key=lambda n: ctx.clips[n])
    return shares, paper, largest


def heads(runs: Runs, cond: str, seed: int, step: int | None) -> tuple[dict, dict]:
    """The output heads (F4, F4b, F4c): each head's series cut at `step` (None: the end), and what
    their validity reads (every head's FID curve and steps)."""
    series = {h: runs.series(name, cond, seed) for h, name in HEADS.items()}
    step = step or series["fc"]["step"][-1]
    common = {"step": int(step), "fid_curves": {h: s["fid"] for h, s in series.items()},
              "fid_steps": series["fc"]["step"],
              "head_steps": {h: runs.run(name, cond, seed).timing["steps"] for h, name in HEADS.items()}}
    return {h: upto(s, step) for h, s in series.items()}, common
