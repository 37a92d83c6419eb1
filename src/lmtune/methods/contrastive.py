"""Pairs of labeled texts (SetFit's contrastive idea, as a loss for lmtune's trainer): the first
stage of `training.contrastive_steps`. Not a method a config names: the recipe runs it before
the method it trains with."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from accelerate.utils import extract_model_from_parallel

from ..tasks.base import output_layer
from ..tasks.classification import head_features
from .base import Method


def pair_loss(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Over every pair in the batch: (1 - cos)^2 for the same label, cos^2 for different ones
    (SetFit's cosine-similarity targets 1 and 0), the two kinds weighted equally, so many classes'
    negatives do not drown the few positive pairs."""
    z = F.normalize(features.float(), dim=-1)
    cos = z @ z.T
    upper = torch.ones_like(cos, dtype=torch.bool).triu(1)
    same = labels[:, None] == labels[None, :]
    terms = [((1 - cos[same & upper]) ** 2).mean()] if (same & upper).any() else []
    terms += [(cos[~same & upper] ** 2).mean()] if (~same & upper).any() else []
    return sum(terms) / len(terms) if terms else cos.sum() * 0


class PairContrast(Method):
    """The pair loss on the features the output layer receives (what the classifier reads)."""

    def loss(self, model, labeled, unlabeled, step):
        core = extract_model_from_parallel(model)  # under torchrun: the model inside the DDP wrapper
        with head_features(output_layer(core, core.config.num_labels)) as captured:
            outputs = model(**{k: v for k, v in labeled.items() if k != "labels"})
        # + 0 x the logits: every parameter takes part in the loss (DDP under torchrun waits for all)
        loss = pair_loss(captured[-1], labeled["labels"]) + outputs.logits.sum() * 0
        return loss, {"pair_loss": float(loss.detach())}, outputs
