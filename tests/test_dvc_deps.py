"""Each stage's code deps in dvc.yaml are exactly the project modules its command imports,
transitively: change a module a stage runs and `dvc repro` re-runs that stage, and no other."""

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
# the module behind each stage's command (the `ganpipe` CLI only parses arguments and dispatches)
ENTRY = {"prepare": "ganpipe.pipeline.prepare", "train-classifier": "ganpipe.pipeline.classifier",
         "train": "ganpipe.pipeline.train", "experiment": "ganpipe.pipeline.experiment",
         "evaluate": "ganpipe.pipeline.evaluate", "controls": "ganpipe.pipeline.controls",
         "main-models": "ganpipe.pipeline.main_models", "findings": "ganpipe.pipeline.findings",
         "report": "ganpipe.pipeline.report"}
# every command runs through the CLI, which sets the process up (threads, allocator) before any
# stage code runs, and reads the params
ALWAYS = ("ganpipe.running.runtime", "ganpipe.params")


def module_path(name: str) -> Path | None:
    rel = Path(*name.split("."))
    for path in (ROOT / rel.with_suffix(".py"), ROOT / rel / "__init__.py"):
        if path.is_file():
            return path
    return None


def imports_of(path: Path, name: str) -> set[str]:
    """The ganpipe modules a module imports anywhere in its body (function-level imports too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from ganpipe import toy` names a module
    return {m for m in found if m.startswith("ganpipe") and module_path(m)}


def closure(*roots: str) -> set[str]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(2, len(parts))]  # a submodule runs its packages' __init__
        todo += sorted(imports_of(module_path(name), name) - seen)
    return {str(module_path(m).relative_to(ROOT)) for m in seen if m != "ganpipe"}


def declared(stage: dict) -> set[str]:
    """The stage's code deps, folders expanded to their modules."""
    out = set()
    for dep in stage["deps"]:
        dep = dep if isinstance(dep, str) else next(iter(dep))
        path = ROOT / dep
        if dep.startswith("ganpipe/"):
            out |= {str(p.relative_to(ROOT)) for p in path.rglob("*.py")} if path.is_dir() else {dep}
    return out


STAGES = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]


@pytest.mark.parametrize("stage", list(ENTRY))
def test_code_deps_are_the_modules_the_stage_imports(stage):
    definition = STAGES[stage].get("do", STAGES[stage])
    needed, listed = closure(ENTRY[stage], *ALWAYS), declared(definition)
    missing, extra = sorted(needed - listed), sorted(listed - needed)
    assert not missing, f"stage {stage}: dvc.yaml misses {', '.join(missing)} (imported by its command)"
    assert not extra, f"stage {stage}: dvc.yaml lists {', '.join(extra)}, which its command never imports"


def test_the_closure_follows_imports_inside_functions():
    # pipeline/report imports the controls at module level, which import metrics and params
    assert {"ganpipe/measures/controls.py", "ganpipe/measures/metrics.py", "ganpipe/params.py"} <= closure("ganpipe.pipeline.report")
    assert "ganpipe/training/objectives.py" in closure("ganpipe.study.trained")  # imported inside `calibration`


def test_the_lock_holds_only_stages_dvc_yaml_defines():
    """DVC keeps a stage's lock entry after the stage is gone from dvc.yaml (an experiment dropped
    from params.yaml): the report's provenance would then list outputs that no longer exist."""
    import shutil
    import subprocess

    if shutil.which("dvc") is None:
        pytest.skip("dvc is not installed")
    defined = subprocess.run(["dvc", "stage", "list", "--name-only"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    locked = yaml.safe_load((ROOT / "dvc.lock").read_text())["stages"]
    assert sorted(set(locked) - set(defined)) == [], "dvc.lock holds stages dvc.yaml no longer defines"
