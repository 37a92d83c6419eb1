"""Back-translation: translate to a pivot language and back with any pair of local or hub
seq2seq models (e.g. Helsinki-NLP/opus-mt-en-de and opus-mt-de-en), sampling for variety."""
from __future__ import annotations

import random

from pydantic import Field

from ...config import StrictModel
from . import Augmenter, register_augmenter


@register_augmenter("backtranslation")
class BackTranslation(Augmenter):
    """Translate to a pivot language and back (`forward` and `backward`: seq2seq model dirs or hub names)."""

    class Config(StrictModel):
        forward: str = Field(..., description="model translating into the pivot language")
        backward: str = Field(..., description="model translating back")
        batch_size: int = Field(16, ge=1)
        max_length: int = Field(256, ge=8)
        temperature: float = Field(0.9, gt=0, description="sampling temperature; variety between copies")

    def __init__(self, config):
        super().__init__(config)
        self._models = {}

    def _model(self, name: str):
        if name not in self._models:
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            from ...models import load_error, resolve_backbone

            source = resolve_backbone(name)
            try:
                self._models[name] = (AutoTokenizer.from_pretrained(source),
                                      AutoModelForSeq2SeqLM.from_pretrained(source).eval())
            except (OSError, ValueError) as exc:
                raise load_error(name, source, exc) from None
        return self._models[name]

    def _translate(self, name: str, texts: list[str], seed: int) -> list[str]:
        import torch

        tokenizer, model = self._model(name)
        out = []
        for start in range(0, len(texts), self.config.batch_size):
            batch = tokenizer(texts[start:start + self.config.batch_size], return_tensors="pt", padding=True,
                              truncation=True, max_length=self.config.max_length)
            batch.pop("token_type_ids", None)
            torch.manual_seed(seed + start)
            with torch.no_grad():
                ids = model.generate(**batch, do_sample=True, temperature=self.config.temperature, top_k=50,
                                     max_new_tokens=self.config.max_length)
            out += tokenizer.batch_decode(ids, skip_special_tokens=True)
        return [" ".join(t.split()) for t in out]

    def augment_batch(self, texts: list[str], seed: int) -> list[str]:
        return self._translate(self.config.backward, self._translate(self.config.forward, texts, seed), seed)

    def augment(self, text, rng: random.Random):
        return self.augment_batch([text], rng.randrange(2**31))[0]
