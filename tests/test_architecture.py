"""The layers of src/lmtune: every import points down (DESIGN.md), there is no cycle between
modules, and the config layer loads without torch."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "lmtune"

# Lowest first. A module belongs to the longest prefix that names it; a module may import its
# own layer and the layers below it, never one above.
LAYERS: list[tuple[str, ...]] = [
    ("errors", "registry", "device"),
    ("config",),
    ("artifacts",),
    ("packaged", "models", "attention"),
    ("data",),
    ("evaluation",),
    ("tasks",),
    ("methods",),
    ("training",),
    ("export",),
    ("loading",),
    ("recipes", "quickstart"),
    ("curation",),
    ("api", "cli", "cli_data", "serve", "studio", "__main__"),
]


def layer_of(module: str) -> int:
    name = module.removeprefix("lmtune").lstrip(".")
    best: tuple[int, int] | None = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (best is None or len(prefix) > best[1]):
                best = (rank, len(prefix))
    if best is None:
        raise AssertionError(f"lmtune.{name} is in no layer: add it to LAYERS in {__file__}")
    return best[0]


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, module: str | None = None) -> list[tuple[str, int]]:
    """(imported lmtune module, line) for every import in the file, in functions too."""
    module = module or module_name(path)
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names if a.name.split(".")[0] == "lmtune"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "lmtune":
                continue
            # `from pkg import name`: name may be a submodule; count it as one where it is
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                is_module = (SRC.parent / Path(*sub.split("."))).with_suffix(".py").is_file() or \
                    (SRC.parent / Path(*sub.split(".")) / "__init__.py").is_file()
                found.append((sub if is_module else target, node.lineno))
    return found


def graph() -> dict[str, list[tuple[str, int]]]:
    return {module_name(p): imports(p) for p in sorted(SRC.rglob("*.py"))}


def test_every_import_points_down():
    upward = []
    for module, targets in graph().items():
        if module == "lmtune":  # the package's lazy public names reach every layer by design
            continue
        for target, line in targets:
            if target != "lmtune" and layer_of(target) > layer_of(module):
                upward.append(f"{module}:{line} imports {target} (layer {layer_of(target)} > {layer_of(module)})")
    assert not upward, "imports that run back up the layers:\n" + "\n".join(upward)


def test_no_cycle_between_modules():
    edges = {m: {t for t, _ in ts if t != m and t != "lmtune"} for m, ts in graph().items() if m != "lmtune"}
    # a package's __init__ importing its own submodules (registration) is not a cycle through them
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt.startswith(node + "."):
                continue
            if state.get(nxt) == 1 and not node.startswith(nxt + "."):
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for module in sorted(edges):
        if module not in state and (cycle := visit(module)):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_the_layer_check_sees_an_upward_import(tmp_path):
    """The check itself: a lower module importing a higher one is caught."""
    bad = tmp_path / "lmtune" / "config.py"
    bad.parent.mkdir()
    bad.write_text("def f():\n    from .recipes.finetune import train\n")
    assert imports(bad, "lmtune.config") == [("lmtune.recipes.finetune", 2)]
    assert layer_of("lmtune.recipes.finetune") > layer_of("lmtune.config")


def test_config_loads_without_torch(tmp_path):
    script = ("import sys, lmtune.config as c; "
              "c.load_config(None, ['training.epochs=2'], base={'data': {'builtin': 'bbc_news'}}); "
              "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
