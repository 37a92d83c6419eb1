"""Task registry: `task: classification` in a config names one of these."""
from ..data.formats import get_format
from ..options import TASK_OPTIONS, register_with_options
from ..registry import Registry
from .base import EncodedDataset, Task

TASKS: Registry[Task] = Registry("task")
get_task = TASKS.get


def register_task(name: str):
    """Register a task class; its `Config` is lmtune.options' TASK_OPTIONS[name] and its `data`
    the data format registered under the same name."""
    register = register_with_options(TASKS, TASK_OPTIONS, name)

    def add(cls):
        cls.data = get_format(name)
        return register(cls)

    return add


from . import classification, generation, multi_label, token_classification  # noqa: E402,F401  (register themselves)

__all__ = ["TASKS", "EncodedDataset", "Task", "get_task", "register_task"]
