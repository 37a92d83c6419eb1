"""Small strategy pieces shared by the semi-supervised methods: sharpening, confidence masks,
class-balanced pseudo-label selection and an EMA teacher. Methods combine these instead of
repeating a forward block each."""
from __future__ import annotations

import copy
import math

import numpy as np
import torch


def sharpen(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """p^(1/T), renormalised: T < 1 makes targets more confident (T = 1 leaves them)."""
    if temperature == 1.0:
        return probs
    powered = probs.clamp_min(1e-12) ** (1.0 / temperature)
    return powered / powered.sum(-1, keepdim=True)


def confidence_mask(probs: torch.Tensor, threshold: float) -> torch.Tensor:
    """1.0 where the most likely class reaches `threshold`, else 0.0 (float, to weight losses)."""
    return (probs.max(-1).values >= threshold).float()


def select_balanced(predicted: np.ndarray, confidence: np.ndarray, threshold: float, per_class: list[int]
                    ) -> np.ndarray:
    """Pool rows to pseudo-label: for each class c, at most per_class[c] rows predicted as c with
    confidence >= threshold, the most confident first. Returns row indices, most confident first
    within each class."""
    chosen = []
    for c, cap in enumerate(per_class):
        rows = np.flatnonzero((predicted == c) & (confidence >= threshold))
        rows = rows[np.argsort(-confidence[rows], kind="stable")][:cap]
        chosen.append(rows)
    return np.concatenate(chosen) if chosen else np.zeros(0, dtype=int)


def index_pool(dataset):
    """The encoded pool with each row's `pool_index`: the method finds a drawn row's targets by it."""
    for i, f in enumerate(dataset.features):
        dataset.features[i] = {**f, "pool_index": i}
    return dataset


def label_prior(train_dataset, n_labels: int) -> list[float] | None:
    """Class shares of the labeled examples; None when an example has no single class (tagged words).
    A class without a labeled example counts as one, not none: a share of 0 would cap its pseudo
    labels at 0 for the whole run, even where a bootstrap names it (data.labeled_size can leave a
    class out)."""
    labels = [f["labels"] for f in train_dataset.features]
    if not labels or not isinstance(labels[0], int):
        return None
    counts = np.bincount(labels, minlength=n_labels).clip(min=1)
    return (counts / counts.sum()).tolist()


def class_caps(n_pool: int, prior: list[float], fraction: float) -> list[int]:
    """Per-class caps that keep the pseudo-labels in the labeled class proportions: `fraction` of
    the pool, split by the prior."""
    return [math.ceil(n_pool * fraction * p) for p in prior]


def distillation_loss(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """KL(targets || softmax(logits)) per row, weighted (a confidence mask), averaged over the batch.
    The gradient is the cross-entropy's; KL reaches 0 when the model matches its targets, so the
    logged value falls as it learns even for soft targets (where cross-entropy stays >= their entropy)."""
    targets = targets.float()
    per_row = (targets * (torch.log(targets.clamp_min(1e-12)) - torch.log_softmax(logits.float(), dim=-1))).sum(-1)
    if weights is not None:
        per_row = per_row * weights
    return per_row.mean()


def positionwise_distillation(logits: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
    """distillation_loss where each row's targets are [C] (one prediction per text) or [L_i, C]
    (one per token; all-zero rows are positions without a prediction, such as a word's later
    sub-tokens): padded to the logits' length, averaged over the positions that have one."""
    if targets[0].dim() == 1:
        return distillation_loss(logits, torch.stack(targets).to(logits.device))
    padded = torch.zeros(logits.shape, dtype=torch.float32, device=logits.device)
    for i, t in enumerate(targets):
        padded[i, :t.shape[0]] = t.to(logits.device)
    flat, flat_logits = padded.reshape(-1, logits.shape[-1]), logits.reshape(-1, logits.shape[-1])
    scored = flat.sum(-1) > 0
    if not scored.any():
        return logits.sum() * 0.0
    return distillation_loss(flat_logits[scored], flat[scored])


class EMATeacher:
    """A copy of the model whose weights follow the student's: t <- d * t + (1 - d) * s after
    every optimizer step. Predictions from it are smoother than from the student."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.updates = 0

    @torch.no_grad()
    def update(self, student: torch.nn.Module) -> None:
        student_params = dict(student.named_parameters())
        for name, p in self.model.named_parameters():
            p.mul_(self.decay).add_(student_params[name].detach().to(p.dtype), alpha=1 - self.decay)
        for (_, b), (_, sb) in zip(self.model.named_buffers(), student.named_buffers()):
            b.copy_(sb)
        self.updates += 1


def independent_targets(probs: torch.Tensor, soft: bool, temperature: float) -> torch.Tensor:
    """Per-label pseudo labels of one text (independent sigmoids): 1 where p >= 0.5 (hard), or p
    sharpened as a two-way distribution, p^(1/T) / (p^(1/T) + (1 - p)^(1/T)) (soft)."""
    if not soft:
        return (probs >= 0.5).float()
    p = probs.clamp(1e-6, 1 - 1e-6) ** (1 / temperature)
    q = (1 - probs).clamp(1e-6, 1 - 1e-6) ** (1 / temperature)
    return p / (p + q)


def independent_loss(logits: torch.Tensor, targets: list[torch.Tensor]) -> torch.Tensor:
    """Binary cross-entropy of each label's logit against its pseudo label, averaged."""
    return torch.nn.functional.binary_cross_entropy_with_logits(
        logits.float(), torch.stack(targets).to(logits.device, torch.float32))
