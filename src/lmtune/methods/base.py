"""Method protocol: the training loss on a labeled batch (and, for semi-supervised methods, an
unlabeled batch). Each method carries its options as a nested pydantic `Config`."""
from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..config import StrictModel


class Method:
    """Base class; subclasses register with @register_method(name)."""

    class Config(StrictModel):
        pass

    needs_unlabeled: ClassVar[bool] = False

    def __init__(self, config: "Method.Config", task):
        self.config = config
        self.task = task

    def loss(self, model, labeled: dict[str, Any], unlabeled: dict[str, Any] | None, step: int
             ) -> tuple[torch.Tensor, dict[str, float], Any]:
        """-> (loss to minimise, extra scalars to log, model outputs on the labeled batch)."""
        raise NotImplementedError
