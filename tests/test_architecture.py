"""The layers of src/lmtune: every import points down (DESIGN.md), there is no cycle between
modules, and the config layer (and `lmtune validate`, `lmtune ls`) run without torch."""
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
    ("options",),
    ("artifacts",),
    ("packaged", "models", "attention", "pruning"),
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


NO_TORCH = "print(sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules))"


def run_cli_without_torch(*args: str) -> subprocess.CompletedProcess:
    """`lmtune ARGS` in a fresh interpreter; its last line lists the model libraries it imported."""
    script = (f"import sys\nfrom lmtune.cli import main\ntry:\n    main({list(args)!r})\n"
              f"except SystemExit as e:\n    assert not e.code, e.code\n{NO_TORCH}")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)


def test_validate_imports_no_torch(tmp_path, tiny_backbone):
    rows = "text,label\n" + "".join(f"text number {i} is {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}\n"
                                    for i in range(40))
    (tmp_path / "train.csv").write_text(rows)
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {{name: {tiny_backbone}, max_length: 32}}\n"
                      f"data: {{train: {tmp_path / 'train.csv'}, test_size: 10, dev_size: 0}}\n"
                      "method: {name: self-training, rounds: 1}\nadversarial: {name: pgd, steps: 2}\n")
    out = run_cli_without_torch("validate", str(config))
    assert "config ok" in out.stdout and "30 labeled train" in out.stdout, out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_validate_still_refuses_bad_options_without_torch(tmp_path, tiny_backbone):
    config = tmp_path / "run.yaml"
    config.write_text(f"model: {{name: {tiny_backbone}}}\ndata: {{builtin: bbc_news}}\n"
                      "method: {name: self-training, rounds: 0}\n")
    script = (f"import sys\nfrom lmtune.cli import main\ntry:\n    main(['validate', {str(config)!r}])\n"
              f"except SystemExit as e:\n    print('exit', e.code)\n{NO_TORCH}")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert "rounds: 0 never labels the pool" in out.stdout + out.stderr and "exit 2" in out.stdout
    assert "run.yaml:3" in out.stdout + out.stderr  # the option's own line
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_ls_imports_no_torch():
    out = run_cli_without_torch("ls")
    for name in ("token-classification", "self-training", "freelb", "synonym", "kcenter", "onnx", "mpnet"):
        assert name in out.stdout, name
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_every_component_takes_its_options_from_the_options_layer():
    """One schema per component: the registered classes carry lmtune.options' schemas and tasks."""
    from lmtune.methods import METHODS
    from lmtune.methods.adversarial import ATTACKS
    from lmtune.options import ATTACK_OPTIONS, METHOD_OPTIONS, TASK_OPTIONS
    from lmtune.tasks import TASKS

    for components, options in ((TASKS, TASK_OPTIONS), (METHODS, METHOD_OPTIONS), (ATTACKS, ATTACK_OPTIONS)):
        # auto has options but no class: the recipe resolves it into another method before building
        assert components.names() == [name for name in options.names() if name != "auto"]
        for name in components.names():
            assert components.get(name).Config is options.get(name).schema, name
            assert getattr(components.get(name), "tasks", None) == options.get(name).tasks, name
