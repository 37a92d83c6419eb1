"""Consistency training: the prediction on an unlabeled text (clean, no dropout) is the target
for the prediction on a noised view of it (an augmenter from the registry, and dropout).

- `uda` (Xie et al. 2020): sharpened soft targets, confidence mask, KL divergence.
- `fixmatch` (Sohn et al. 2020): the weak view's argmax as a hard label for the strong view,
  kept above a high threshold.
- `align` (distribution alignment, ReMixMatch, Berthelot et al. 2020): the clean predictions
  are multiplied by (labeled class distribution / running mean of the model's predictions on
  unlabeled text) and renormalised, so the pseudo labels cannot all drift to one class.
Noised views are made once before training (`views` per text) and drawn at random after.
"""
from __future__ import annotations

import random

import torch

from . import register_method
from .pseudo_labels import confidence_mask, distillation_loss, label_prior, sharpen
from .semi import SemiSupervised

AUG = "aug_"  # prefix of the noised view's features in an unlabeled batch


@register_method("consistency")
class Consistency(SemiSupervised):
    """UDA-style consistency between an unlabeled text and its noised view (mode: uda | fixmatch)."""


    @property
    def threshold(self) -> float:
        c = self.config
        return c.threshold if c.threshold is not None else (0.95 if c.mode == "fixmatch" else 0.8)

    def prepare(self, run):
        self.prior = torch.tensor(label_prior(run.train_dataset, len(self.task.labels)))
        self.running = None  # mean prediction on unlabeled text, updated every step

    def aligned(self, probs: torch.Tensor) -> torch.Tensor:
        """probs x prior / running mean of probs, renormalised (distribution alignment)."""
        mean = probs.mean(0).detach()
        m = self.config.align_momentum
        self.running = mean if self.running is None else m * self.running.to(mean.device) + (1 - m) * mean
        out = probs * (self.prior.to(probs.device) / self.running.clamp_min(1e-6))
        return out / out.sum(-1, keepdim=True)

    def unlabeled_dataset(self, pool):
        from ..data.augment import augment_texts, build_augmenter

        c = self.config
        texts = [ex.text for ex in pool]
        encode = self.task.encode  # the task's own encoding, for the clean and the noised texts
        clean = encode(pool).features
        if c.augment == "none":
            return _Views(clean, [clean])
        augmenter = build_augmenter(c.augment, **c.augment_options)
        noised = [encode([self.task.data.unlabeled_example(t, "") for t in augment_texts(texts, augmenter, seed)]).features
                  for seed in range(c.views)]
        return _Views(clean, noised)

    def unlabeled_collator(self):
        return _PairCollator(self.task.collator())

    def unlabeled_loss(self, model, unlabeled, step):
        clean = {k: v for k, v in unlabeled.items() if not k.startswith(AUG)}
        noised = {k[len(AUG):]: v for k, v in unlabeled.items() if k.startswith(AUG)}
        was_training = model.training
        model.eval()
        with torch.no_grad():
            probs = torch.softmax(model(**clean).logits.float(), dim=-1)
        model.train(was_training)
        if self.config.align:
            probs = self.aligned(probs)
        mask = confidence_mask(probs, self.threshold)
        targets = (torch.nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).float()
                   if self.config.mode == "fixmatch" else sharpen(probs, self.config.temperature))
        loss = distillation_loss(model(**noised).logits, targets, mask)
        return loss, {"mask_rate": round(float(mask.mean()), 4)}


@register_method("fixmatch")
class FixMatch(Consistency):
    """FixMatch: consistency with mode fixmatch (hard pseudo labels, a high threshold) by default."""


class _Views(torch.utils.data.Dataset):
    """Row i: the clean features of text i and one of its noised copies, chosen at random."""

    def __init__(self, clean: list[dict], noised: list[list[dict]]):
        self.clean, self.noised = clean, noised
        self.rng = random.Random(0)

    def __len__(self) -> int:
        return len(self.clean)

    def __getitem__(self, i: int) -> dict:
        view = self.noised[self.rng.randrange(len(self.noised))][i]
        return {**self.clean[i], **{AUG + k: v for k, v in view.items()}}


class _PairCollator:
    """Pads the clean and the noised features separately (they differ in length)."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, rows: list[dict]) -> dict:
        clean = self.collate([{k: v for k, v in r.items() if not k.startswith(AUG)} for r in rows])
        noised = self.collate([{k[len(AUG):]: v for k, v in r.items() if k.startswith(AUG)} for r in rows])
        return {**clean, **{AUG + k: v for k, v in noised.items()}}
