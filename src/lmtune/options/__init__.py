"""Every component's options, as torch-free schemas the config layer checks: the tasks'
`task_options`, the methods' `method:` section and the adversarial attacks'. The components
themselves (which need torch) take their `Config` from here when they register, so
`lmtune validate` and `lmtune ls` check and list them without importing a model library.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..config import StrictModel
from ..registry import Registry, summary_of

# (option, problem, fix) when validated options do not fit the task; None when they do
Check = Callable[[StrictModel, str], "tuple[str, str, str] | None"]


@dataclass
class Options:
    """One component's options: the schema, the `lmtune ls` line, the tasks it applies to
    (None: every task) and a check of the validated options against the task."""
    schema: type[StrictModel]
    summary: str
    tasks: tuple[str, ...] | None = None
    check: Check | None = None

    def refused(self, options: StrictModel, task: str) -> tuple[str, str, str] | None:
        return self.check(options, task) if self.check else None


TASK_OPTIONS: Registry[Options] = Registry("task")
METHOD_OPTIONS: Registry[Options] = Registry("method")
ATTACK_OPTIONS: Registry[Options] = Registry("adversarial attack")


def options_of(registry: Registry[Options], name: str) -> Options:
    """The options registered as `name`; a plugin class (`package.module:Class`) carries its own."""
    found = registry.get(name)
    if isinstance(found, Options):
        return found
    return Options(found.Config, summary_of(found), getattr(found, "tasks", None), getattr(found, "check_options", None))


def register_with_options(components: Registry, options: Registry[Options], name: str):
    """A class decorator: register the class in `components` as `name`, with the schema (its
    `Config`) and the tasks of the options registered under the same name."""
    spec = options.get(name)

    def add(cls):
        cls.Config, cls.tasks = spec.schema, spec.tasks
        return components.register(name)(cls)

    return add


from . import attacks, methods, tasks  # noqa: E402,F401  (register themselves)

__all__ = ["ATTACK_OPTIONS", "METHOD_OPTIONS", "TASK_OPTIONS", "Options", "options_of", "register_with_options"]
