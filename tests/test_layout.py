"""The shape of the code: the command line on top, imported by no package; no argparse below
it; no import circle between modules; analysis reads the stored schema without the engine; the
engine runs without Ray; one declaration of the agent options."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from agents.options import OPTIONS
from agents.spec import AgentSpec

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("agents", "tournament", "sweeps", "analysis")


def imported_after(statement: str) -> set[str]:
    """The names in ``sys.modules`` of a fresh interpreter after ``statement``."""
    code = f"import json, sys\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(json.loads(done.stdout.splitlines()[-1]))


def import_every_module(packages) -> str:
    """A statement importing each package and every module below it."""
    return (
        "import importlib, pkgutil\n"
        f"for name in {list(packages)!r}:\n"
        "    package = importlib.import_module(name)\n"
        "    for module in pkgutil.walk_packages(package.__path__, name + '.'):\n"
        "        importlib.import_module(module.name)"
    )


def is_cli(name: str) -> bool:
    return name == "cli" or name.startswith("cli.")


def test_importing_the_packages_imports_no_cli_module():
    assert not {m for m in imported_after(f"import {', '.join(PACKAGES)}") if is_cli(m)}
    modules = imported_after(import_every_module(PACKAGES))
    assert {"sweeps.runner", "analysis.report", "tournament.run_match"} <= modules
    assert not {m for m in modules if is_cli(m)}


def top_level_imports(path: Path) -> set[str]:
    """The top-level names of the modules a source file imports."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_no_package_module_imports_argparse_or_the_cli(package):
    sources = sorted((ROOT / package).rglob("*.py"))
    assert sources
    for path in sources:
        assert not top_level_imports(path) & {"argparse", "cli"}, path.relative_to(ROOT)


def project_modules() -> dict[str, Path]:
    """Every module of the project by its dotted name (a package by its ``__init__``)."""
    modules = {}
    for package in (*PACKAGES, "cli", "bench"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def project_imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules that module ``name`` imports anywhere in its source: at the top, in
    functions, under ``TYPE_CHECKING``; ``from package import module`` names the module, and
    relative imports are resolved."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                package = package[: len(package) - node.level + 1]
                base = ".".join([*package, *([base] if base else [])])
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {m for m in found if m in modules and m != name}


def import_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle ``[m1, m2, ..., m1]`` per back edge of a depth-first search of ``graph``."""
    state: dict[str, str] = {}  # "open" while on the path, then "done"
    path: list[str] = []
    circles = []

    def visit(module: str) -> None:
        state[module] = "open"
        path.append(module)
        for imported in sorted(graph[module]):
            if state.get(imported) == "open":
                circles.append([*path[path.index(imported) :], imported])
            elif imported not in state:
                visit(imported)
        path.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)
    return circles


def test_import_circles_are_found_with_function_level_imports(tmp_path):
    (tmp_path / "a.py").write_text("import b\n")
    (tmp_path / "b.py").write_text("def f():\n    from a import x\n")
    modules = {"a": tmp_path / "a.py", "b": tmp_path / "b.py"}
    graph = {name: project_imports(name, path, modules) for name, path in modules.items()}
    assert graph == {"a": {"b"}, "b": {"a"}}
    assert import_circles(graph) == [["a", "b", "a"]]


def test_no_import_circle_between_project_modules():
    modules = project_modules()
    assert {"tournament.match", "tournament.engines.sampled", "agents.objective"} <= set(modules)
    graph = {name: project_imports(name, path, modules) for name, path in modules.items()}
    assert "agents.objective" in graph["agents.rules"]
    assert import_circles(graph) == []


def test_the_cli_is_only_a_face_over_the_packages():
    assert top_level_imports(ROOT / "cli" / "main.py") & set(PACKAGES)
    assert "argparse" in top_level_imports(ROOT / "cli" / "main.py")


def test_analysis_and_the_schema_import_without_torch_or_ray():
    modules = imported_after(import_every_module(["analysis"]) + "\nimport sweeps.schema")
    assert "analysis.figures" in modules and "sweeps.schema" in modules
    assert not {m for m in modules if m.split(".")[0] in ("torch", "ray")}


def test_the_engine_imports_without_ray():
    modules = imported_after(import_every_module(["agents", "tournament"]))
    assert "tournament.match" in modules and "torch" in modules
    assert not {m for m in modules if m.split(".")[0] == "ray"}


def test_agent_spec_fields_are_the_declared_options_with_their_defaults():
    spec_fields = [f for f in fields(AgentSpec) if f.name != "kind"]
    assert [f.name for f in spec_fields] == [o.name for o in OPTIONS]
    for field, option in zip(spec_fields, OPTIONS, strict=True):
        assert field.default is not MISSING and field.default == option.default, option.name


def test_kinds_read_declared_options_and_learners_are_the_rules():
    from agents.kinds import KINDS, LEARNERS, ONLINE
    from agents.online import ONLINE_RULES
    from agents.options import BY_NAME, options_of
    from agents.rules import RULES

    assert (*RULES, *ONLINE_RULES) == LEARNERS
    for kind in KINDS.values():
        assert set(kind.options) <= set(BY_NAME), kind.name
    for name in LEARNERS:
        AgentSpec(name)  # valid with its defaults
    assert options_of("lola") == ("lr", "lr_in", "lookahead", "init", "policy", "optimizer")
    assert options_of("tft") == () and options_of("memory1") == ("p",)
    assert BY_NAME["lookahead"].applies_to == ("la", "lola", "lola-dice")
    assert BY_NAME["episodes"].applies_to == ("nl-pg", "lola-dice", "lola-pg", "pola-dice")
    assert BY_NAME["init"].applies_to == tuple(k for k in LEARNERS if k not in ONLINE)
    assert BY_NAME["beta_out"].applies_to == ("pola", "pola-dice")
