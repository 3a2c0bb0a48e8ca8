"""One MLflow parent run per pipeline execution (a `dvc repro`, or one `dvc exp run`), with each
stage's run nested under it and the stages DVC skipped linked from it.

DVC starts every stage command as a child of the dvc process that runs the pipeline (`dvc repro`,
`dvc exp run`, or a queue worker's `dvc exp exec-run`) and tells it the stage's name (DVC_STAGE),
but hands it no id of the execution. That dvc process is the execution: its pid and start time,
with the machine's boot id, name it, so every stage of one execution finds the same parent and
two queued experiments running side by side find two. A command run by hand, outside DVC, has no
parent run.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from ganpipe.params import STUDY_FILE, flatten

EXECUTION_TAG = "ganpipe.execution"  # on the parent: which execution it stands for
DVC_STAGE_TAG = "dvc_stage"  # on each stage's run: DVC's name for the stage (train@wgan, ...)


def _stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat after the command name (which may hold spaces): field 3 onwards."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _is_dvc(cmdline: list[str]) -> bool:
    """`dvc ...`, `python .../bin/dvc ...` or `python -m dvc ...`."""
    head = cmdline[:3]
    return any(Path(arg).name == "dvc" for arg in head) or head[1:3] == ["-m", "dvc"]


def execution_dir() -> Path:
    """The execution's own copy of the project: DVC's temporary copy for a queued experiment, where
    params.yaml holds the experiment's values and dvc.lock its stages (DVC_ROOT, set by DVC)."""
    return Path(os.environ.get("DVC_ROOT") or Path.cwd())


def execution_key() -> str | None:
    """A name for the pipeline execution running this stage, or None outside DVC."""
    if not os.environ.get("DVC_STAGE"):
        return None
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        pid = os.getppid()
        while pid > 1:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
            fields = _stat_fields(pid)
            if _is_dvc(cmdline):
                return f"{boot}:{pid}:{fields[19]}"  # field 22, the process's start time
            pid = int(fields[1])  # field 4, its parent
    except (OSError, ValueError, IndexError):  # no /proc (not Linux), or the process is gone
        return None
    return None


def changed_params(root: Path) -> dict[str, str]:
    """Params that differ from the commit's params.yaml and findings.yaml (what `dvc exp run -S` set),
    flattened."""
    old, new = {}, {}
    for name in ("params.yaml", STUDY_FILE):
        try:
            committed = subprocess.run(["git", "show", f"HEAD:{name}"], cwd=root, capture_output=True, text=True,
                                       timeout=10)
            current = yaml.safe_load((root / name).read_text()) if (root / name).is_file() else {}
            if committed.returncode == 0:
                old.update(flatten(yaml.safe_load(committed.stdout) or {}))
            elif name == "params.yaml":
                return {}
        except (OSError, yaml.YAMLError):
            return {}
        new.update(flatten(current or {}))
    return {k: str(v) for k, v in new.items() if old.get(k, object()) != v}


def parent_run(client, experiment_id: str, key: str, tags: dict[str, str], root: Path) -> str:
    """The id of this execution's parent run, made by its first stage, set running again by later ones.

    Named after the DVC experiment, else the commit; its params are the ones the execution changed."""
    from mlflow.entities import Param

    found = client.search_runs([experiment_id], filter_string=f"tags.`{EXECUTION_TAG}` = '{key}'", max_results=1)
    if found:
        run_id = found[0].info.run_id
        client.update_run(run_id, status="RUNNING")
        return run_id
    name = tags.get("dvc_exp_name") or f"dvc repro {tags.get('git_commit', 'unknown')[:7]}"
    parent_tags = {EXECUTION_TAG: key, "mlflow.runName": name, "pipeline": "dvc",
                   **{k: v for k, v in tags.items() if k in ("git_commit", "dvc_exp_name", "dvc_exp_baseline_rev")}}
    run = client.create_run(experiment_id, tags=parent_tags, run_name=name)
    changed = changed_params(root)
    if changed:
        client.log_batch(run.info.run_id, params=[Param(k, v[:6000]) for k, v in sorted(changed.items())])
    return run.info.run_id


def pipeline_stages(root: Path) -> list[str]:
    """DVC's names of the pipeline's stages (train@wgan, ...), as the last run recorded them in dvc.lock."""
    try:
        return list((yaml.safe_load((root / "dvc.lock").read_text()) or {}).get("stages", {}))
    except (OSError, yaml.YAMLError):
        return []


def describe_pipeline(client, experiment_id: str, parent_id: str, root: Path, status: str) -> None:
    """Write the parent's note (the run's description in the UI): every stage of the pipeline, the
    run it got in this execution or, for a stage DVC skipped as unchanged, a link to its latest run."""
    children = client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent_id}'",
                                  order_by=["attributes.start_time ASC"], max_results=500)
    ran = {r.data.tags.get(DVC_STAGE_TAG): r for r in children}
    lines = ["| stage | in this run | MLflow run |", "|---|---|---|"]
    for stage in dict.fromkeys([*pipeline_stages(root), *ran]):  # dvc.lock's order, then any new stage
        if stage in ran:
            r = ran[stage]
            lines.append(f"| {stage} | ran ({r.info.status.lower()}) | [{r.info.run_name}](#/experiments/{experiment_id}"
                         f"/runs/{r.info.run_id}) |")
            continue
        latest = client.search_runs([experiment_id], filter_string=f"tags.`{DVC_STAGE_TAG}` = '{stage}'",
                                    order_by=["attributes.start_time DESC"], max_results=1)
        link = (f"[{latest[0].info.run_name}](#/experiments/{experiment_id}/runs/{latest[0].info.run_id})"
                if latest else "none in this store")
        lines.append(f"| {stage} | skipped: unchanged | {link} |")
    note = "Stages of this pipeline execution (DVC skips a stage whose inputs did not change):\n\n" + "\n".join(lines)
    client.set_tag(parent_id, "mlflow.note.content", note)
    client.set_terminated(parent_id, status)
