"""Task registry: `task: classification` in a config names one of these."""
from ..registry import Registry
from .base import EncodedDataset, Task

TASKS: Registry[Task] = Registry("task")
register_task = TASKS.register
get_task = TASKS.get

from . import classification, generation, token_classification  # noqa: E402,F401  (register themselves)

__all__ = ["TASKS", "EncodedDataset", "Task", "get_task", "register_task"]
