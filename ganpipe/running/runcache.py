"""The run cache: each findings run (one seed of one condition) is trained once, and a stage that
runs again copies it into place instead of training it.

DVC caches whole stages, and an experiment stage holds up to a dozen runs: without this, one more
map cell or one more seed re-trains every run of the stages it touches. An entry is keyed by
everything a run's numbers depend on (`RunKey`): its resolved config and seed, the number of
samples it draws, the device, the prepared data's bytes, the source of the code that trains it,
torch's version and the CPU's float identity (runs on different CPU kinds differ in their last
digits; two machines of one kind agree to the last digit: docs/reproducibility.md). Change any of
them and the run misses, so a restored run is the run that would have trained.

Storage is `diskcache` (already DVC's own dependency): one SQLite index and a file per value. An
entry is written in one transaction, so two stages storing one key at once leave one whole entry,
and a reader never sees half of one. Each entry keeps a SHA-256 of every file it holds; an entry
whose files do not match (a disk error, an edited file) is reported in one line, dropped and
trained again, never used.

Where: $GANPIPE_RUN_CACHE, else ~/.cache/ganpipe/runs ($XDG_CACHE_HOME): outside the stage
outputs (DVC deletes those before a stage runs) and outside git. Point it at a shared disk and
every clone on the machines that see it shares the runs; GANPIPE_RUN_CACHE=off trains every run.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import os
import platform
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ENV = "GANPIPE_RUN_CACHE"
OFF = "off"
# The code a run's numbers depend on, by module: how it trains, the data it reads, the process
# set-up (threads, seeds, determinism) and how its files are written ...
TRAINING_MODULES = ("ganpipe.training.run", "ganpipe.training.loop", "ganpipe.training.models",
                    "ganpipe.training.objectives", "ganpipe.data.images", "ganpipe.data.mnist",
                    "ganpipe.running.runtime", "ganpipe.running.files")
# ... and by function, where a module holds much else: the critic's share at the clip, logged in
# history.csv, is the one measure a run computes while it trains
TRAINING_FUNCTIONS = ("ganpipe.measures.metrics:boundary_share",)
# the CPU features whose kernels PyTorch, oneDNN and MKL pick between: which one ran decides a
# float sum's last bits
ISA_FLAGS = ("avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")
# the files a run writes whose bytes vary between two trainings of the same run (its clock, its MLflow run)
CLOCK_FILES = ("train.json",)


class CacheError(Exception):
    """A cache entry that cannot be used; the message is one line."""


def folder() -> Path | None:
    """The cache's folder, or None when the cache is off."""
    value = os.environ.get(ENV, "").strip()
    if value.lower() == OFF:
        return None
    if value:
        return Path(value).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ganpipe" / "runs"


def code_digest() -> str:
    """SHA-256 of the training code's source (TRAINING_MODULES and TRAINING_FUNCTIONS)."""
    h = hashlib.sha256()
    for module in TRAINING_MODULES:
        h.update(module.encode())
        h.update(Path(importlib.import_module(module).__file__).read_bytes())
    for name in TRAINING_FUNCTIONS:
        module, function = name.split(":")
        h.update(name.encode())
        h.update(inspect.getsource(getattr(importlib.import_module(module), function)).encode())
    return h.hexdigest()


def float_identity() -> str:
    """What decides a float's last bits on this machine: the CPU's vendor and architecture, the
    instruction set PyTorch's kernels dispatch to, and the ISA flags oneDNN and MKL choose by.
    Two machines of one kind give the same string, and the same runs."""
    import torch

    vendor, flags = platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("vendor_id", "CPU implementer") and vendor == platform.machine():
                vendor = f"{platform.machine()} {value.strip()}"
            elif key.strip() in ("flags", "Features"):
                flags = set(value.split())
                break
    except OSError:  # not Linux: the architecture and torch's own dispatch say what they can
        pass
    isa = "+".join(f for f in ISA_FLAGS if f in flags)
    return f"{vendor}; torch kernels {torch.backends.cpu.get_cpu_capability()}; {isa or 'no listed ISA flags'}"


@dataclass(frozen=True)
class Machine:
    """What every run's key shares on this machine and checkout: read once per stage."""

    data_sha256: str
    code: str
    torch: str
    floats: str

    @classmethod
    def here(cls, data_path: Path) -> Machine:
        import torch

        return cls(hashlib.sha256(Path(data_path).read_bytes()).hexdigest(), code_digest(), torch.__version__,
                   float_identity())


def run_identity(cfg, seed: int, n_samples: int, device: str) -> dict:
    """What names a run in findings.yaml: its resolved config, its seed, the samples it draws, its device."""
    return {"config": cfg.model_dump(mode="json"), "seed": seed, "n_samples": n_samples, "device": device}


def digest(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def key(identity: dict, machine: Machine) -> str:
    """The entry's name: a run's identity on this data, code, torch and CPU kind."""
    return digest({"run": identity, "data": machine.data_sha256, "code": machine.code, "torch": machine.torch,
                   "floats": machine.floats})


def read_folder(run_folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_folder)): p.read_bytes() for p in sorted(run_folder.rglob("*")) if p.is_file()}


class RunCache:
    """The runs stored under one folder. Values: `files/KEY` (every file of the run, by relative
    path) and `meta/KEY` (what the run is, where and when it first trained, its files' SHA-256,
    its result record), written together in one transaction."""

    def __init__(self, path: Path):
        import diskcache

        self.path = Path(path)
        # never evict on its own: `ganpipe cache prune` says what goes
        self.store = diskcache.Cache(str(self.path), size_limit=2**62, eviction_policy="none")

    def close(self) -> None:
        self.store.close()

    def put(self, key: str, run_folder: Path, meta: dict) -> None:
        files = read_folder(run_folder)
        meta = {**meta, "sha256": {rel: hashlib.sha256(data).hexdigest() for rel, data in files.items()},
                "bytes": sum(len(d) for d in files.values()), "stored": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        with self.store.transact():
            self.store.set(f"files/{key}", files, tag=meta.get("experiment"))
            self.store.set(f"meta/{key}", meta, tag=meta.get("experiment"))

    def get(self, key: str) -> tuple[dict, dict[str, bytes]] | None:
        """(meta, files) of a whole entry, None if there is none; CacheError (and the entry
        dropped) if it is there but its files do not match their checksums."""
        try:
            meta = self.store.get(f"meta/{key}")
            if meta is None:
                return None
            files = self.store.get(f"files/{key}")
        except Exception as exc:  # a value file cut short or garbled: the unpickler's error, whatever it is
            self.drop(key)
            raise CacheError(f"run cache entry {key[:12]} in {self.path} cannot be read "
                             f"({type(exc).__name__}); it was dropped") from None
        bad = _mismatch(meta, files)
        if bad:
            self.drop(key)
            raise CacheError(f"run cache entry {key[:12]} ({meta.get('label', '?')}) in {self.path} is corrupt: "
                             f"{bad}; it was dropped")
        return meta, files

    def drop(self, key: str) -> None:
        with self.store.transact():
            self.store.delete(f"files/{key}")
            self.store.delete(f"meta/{key}")

    def entries(self) -> dict[str, dict]:
        """Every entry's meta, by key."""
        found = {}
        for name in list(self.store.iterkeys()):
            if isinstance(name, str) and name.startswith("meta/"):
                meta = self.store.get(name)
                if meta is not None:
                    found[name.removeprefix("meta/")] = meta
        return found

    def summary(self) -> dict:
        """Runs and bytes in all, and by experiment."""
        entries = self.entries()
        runs, size = Counter(), Counter()
        for meta in entries.values():
            runs[meta.get("experiment", "?")] += 1
            size[meta.get("experiment", "?")] += meta.get("bytes", 0)
        return {"folder": str(self.path), "runs": len(entries), "bytes": sum(size.values()),
                "experiments": {name: {"runs": runs[name], "bytes": size[name]} for name in sorted(runs)}}

    def prune(self, keep_identities: set[str] | None) -> int:
        """Drop every entry (keep_identities None) or those whose run identity is not among
        `keep_identities` (`digest(run_identity(...))` of the runs findings.yaml names); the number dropped."""
        dropped = 0
        for key, meta in self.entries().items():
            if keep_identities is None or meta.get("identity") not in keep_identities:
                self.drop(key)
                dropped += 1
        if keep_identities is None:
            self.store.clear()
        return dropped


def _mismatch(meta: dict, files) -> str:
    """'' if `files` are exactly the files the entry's checksums name, else what differs, in a few words."""
    if not isinstance(files, dict):
        return "its files are missing"
    expected = meta.get("sha256", {})
    if set(files) != set(expected):
        return f"{len(set(expected) ^ set(files))} files missing or extra"
    for rel, data in files.items():
        if hashlib.sha256(data).hexdigest() != expected[rel]:
            return f"{rel}: checksum differs"
    return ""


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
