"""The package's layout rules (docs/ARCHITECTURE.md), checked on the source tree: stages
never import each other, the wiring imports only their public faces, the shared leaves
import no stage, no import cycle, and no module or class outgrows its room."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "pipeline"
STAGES = ("read", "validate", "execute", "report")
ROOMS = (*STAGES, "contract", "simulator")
LEAVES = (
    "records",
    "config",
    "referential",
    "logs",
    "log_sinks",
    "progress",
    "stopping",
    "contract",
)
WIRING = ("run", "run_rows", "reprise", "summary", "workdir", "cli", "lifecycle")
MAX_MODULE_LINES = 400
MAX_CLASS_LINES = 250


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path


def _imports(path: Path) -> set[str]:
    """The ``pipeline`` modules a file imports (``from pipeline.x import y`` counts as
    ``pipeline.x``, and as ``pipeline.x.y`` when that is a module)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("pipeline"))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.level == 0
            and node.module.startswith("pipeline")
        ):
            found.add(node.module)
            for alias in node.names:
                candidate = PACKAGE.parent / Path(*f"{node.module}.{alias.name}".split("."))
                if candidate.with_suffix(".py").exists() or candidate.is_dir():
                    found.add(f"{node.module}.{alias.name}")
    return found


MODULES = dict(_modules())
GRAPH = {name: _imports(path) for name, path in MODULES.items()}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_tree_has_the_four_stage_folders() -> None:
    """Each stage is a folder with a public face; the top holds only shared leaves and wiring."""
    for stage in STAGES:
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert top == set(LEAVES + WIRING) - {"contract"}, top


@pytest.mark.parametrize("room", ROOMS)
def test_a_room_imports_only_itself_and_the_shared_leaves(room: str) -> None:
    """No stage (nor the simulator) imports another stage or the wiring."""
    allowed = {room, *LEAVES}
    for module, imported in GRAPH.items():
        if _room(module) != room:
            continue
        for target in imported:
            assert _room(target) in allowed, f"{module} imports {target}"


def test_leaves_import_no_stage() -> None:
    """The shared leaves import only other leaves."""
    for leaf in LEAVES:
        for target in GRAPH[f"pipeline.{leaf}"]:
            assert _room(target) in LEAVES, f"pipeline.{leaf} imports {target}"


def test_wiring_uses_only_the_stages_public_faces() -> None:
    """run.py, run_rows.py, cli.py and lifecycle.py import a stage by its package, never
    its modules."""
    for name in WIRING:
        for target in GRAPH[f"pipeline.{name}"]:
            if _room(target) in STAGES:
                assert target == f"pipeline.{_room(target)}", f"pipeline.{name} imports {target}"


def test_no_import_cycle() -> None:
    """Imports go one way: the module graph has no cycle."""
    state: dict[str, int] = {}

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if target not in GRAPH or target == module or module.startswith(target + "."):
                continue  # a package's own __init__ importing its modules is not a cycle
            if state.get(target) == 1:
                raise AssertionError(" -> ".join([*trail, module, target]))
            if target not in state:
                visit(target, [*trail, module])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [])


def test_no_module_or_class_outgrows_its_room() -> None:
    """No module of pipeline/ over 400 lines, no class over 250."""
    too_big = []
    for module, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_big.append(f"{module}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                size = node.end_lineno - node.lineno + 1
                if size > MAX_CLASS_LINES:
                    too_big.append(f"{module}.{node.name}: {size} lines")
    assert not too_big, too_big
