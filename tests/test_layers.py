"""The package's layout is its architecture: a few sub-packages by role, each importing only the
ones below it (docs/design.md, "The code at a glance"). A module that reaches up a layer, or a new
module dropped at the package root, fails here with the import that did it."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "ganpipe"
# bottom to top: a package may import itself and any package before it in this list
LAYERS = ["params", "running", "data", "measures", "training", "report", "study", "pipeline", "bench", "cli"]
ROOT_MODULES = {"__init__", "__main__", "cli", "params"}  # the entry points and the config; the rest are grouped


def layer_of(module: str) -> str | None:
    """'ganpipe.study.claims.f1_collapse' -> 'study'; None for the package itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def imports(path: Path) -> list[tuple[int, str]]:
    """Every ganpipe module or package a file imports, function-level imports too, with the line."""
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found += [(node.lineno, f"{base}.{a.name}" if base == "ganpipe" else base) for a in node.names]
    return [(line, m) for line, m in found if m.startswith("ganpipe")]


def test_no_module_reaches_up_a_layer():
    ups = []
    for path in sorted(ROOT.rglob("*.py")):
        src = layer_of(".".join(path.relative_to(ROOT.parent).with_suffix("").parts))
        if src in ("__init__", "__main__"):
            continue
        for line, target in imports(path):
            dst = layer_of(target)
            if dst and dst != src and LAYERS.index(dst) > LAYERS.index(src):
                ups.append(f"{path.relative_to(ROOT.parent)}:{line} imports {target} ({src} is below {dst})")
    assert not ups, "\n".join(ups)


def test_every_module_at_the_root_is_an_entry_point_or_the_config():
    at_root = {p.stem for p in ROOT.glob("*.py")}
    assert at_root == ROOT_MODULES, f"group these by role: {sorted(at_root - ROOT_MODULES)}"
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")}
    assert packages == set(LAYERS) - ROOT_MODULES, "a package that is in no layer, or a layer with no package"


def test_every_package_says_what_it_holds():
    for init in ROOT.glob("*/__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.split()) >= 8, f"{init.relative_to(ROOT.parent)}: a one-paragraph docstring, please"


def test_the_layer_check_sees_an_import_that_reaches_up(tmp_path):
    """The check itself: a measure that imports the study is caught."""
    bad = tmp_path / "ganpipe" / "measures" / "bad.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("def f():\n    from ganpipe.study import verdicts\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path / "ganpipe"
    try:
        (line, target), = imports(bad)
    finally:
        ROOT = saved
    assert (line, target) == (2, "ganpipe.study")
    assert LAYERS.index(layer_of(target)) > LAYERS.index("measures")
