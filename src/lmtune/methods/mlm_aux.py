"""Masked-LM auxiliary loss on unlabeled text, in the same step as the labeled loss."""
from __future__ import annotations

import torch

from ..models import backbone_of
from ..tasks.language_modeling import LanguageModeling
from . import register_method
from .semi import SemiSupervised


@register_method("mlm-aux")
class MLMAux(SemiSupervised):
    """Labeled cross-entropy + alpha x masked-LM loss on unlabeled batches (shared encoder, own LM head)."""

    def prepare(self, run):
        self.lm = LanguageModeling(self.task.tokenizer, "mlm", self.task.max_length, self.config.mask_rate, packing=False)
        lm_model, _, tied = self.lm.build_model(run.source)
        encoder = backbone_of(run.model)
        # the LM model's own encoder is replaced by the task model's: one set of encoder weights
        setattr(lm_model, lm_model.base_model_prefix, encoder)
        if tied:
            lm_model.get_output_embeddings().weight = encoder.get_input_embeddings().weight
        shared = {id(p) for p in encoder.parameters()}
        self.head = [m for name, m in lm_model.named_children() if name != lm_model.base_model_prefix]
        for m in self.head:
            for p in m.parameters():
                if id(p) not in shared:
                    p.requires_grad_(True)
        self.lm_model = lm_model.to(next(run.model.parameters()).device).train()

    def unlabeled_dataset(self, pool):
        return self.lm.encode([ex.text for ex in pool])

    def unlabeled_collator(self):
        return self.lm.collator()

    def extra_modules(self):
        return self.head

    def unlabeled_loss(self, model, unlabeled, step):
        self.lm_model.train(model.training)
        unlabeled = {k: v for k, v in unlabeled.items() if k != "special_tokens_mask"}
        masked = int((unlabeled["labels"] != -100).sum())
        if masked == 0:  # short texts can draw no mask at all: the mean over no tokens would be NaN
            return torch.zeros((), device=unlabeled["labels"].device), {"masked_tokens": 0}
        return self.lm_model(**unlabeled).loss, {"masked_tokens": masked}
