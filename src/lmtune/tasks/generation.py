"""Generative supervised fine-tuning of a decoder (causal LM) on instruction data.

Each example is a prompt (or a chat) and its response. The prompt is rendered with the
tokenizer's chat template when it has one, else with the simple template below; the loss is on
the response tokens only (prompt positions are labelled -100). An example longer than
model.max_length loses the start of its prompt first; a response that alone does not fit is
cut, and every cut is counted and reported, never silent.

Simple template (no chat template in the tokenizer):

    ### User:
    {prompt}

    ### Assistant:
    {response}<eos>

(one `### {Role}:` block per message of a chat, `System`/`User`/`Assistant`).
"""
from __future__ import annotations

import math
import re
import string
from collections import Counter

import torch
from tqdm.auto import tqdm

from ..data.examples import PromptExample
from ..errors import ConfigError
from . import register_task
from .base import EncodedDataset, Task

IGNORE = -100


@register_task("generation")
class Generation(Task):
    """Prompt -> response with a causal LM: response-only loss; dev loss/perplexity, generations,
    exact match and token F1."""

    # the Trainer's dev pass keeps the loss only (logits over the vocabulary are huge): the one
    # selection metric. Perplexity, exact match and token F1 are scored on dev/test after training.
    metrics = {"loss": False}
    compute_metrics = None
    auto_model = "AutoModelForCausalLM"
    peft_task_type = "CAUSAL_LM"

    def __init__(self, labels, tokenizer, max_length, options=None):
        super().__init__(labels, tokenizer, max_length, options)
        if tokenizer.pad_token is None:  # decoders often ship without one; padding is masked anyway
            tokenizer.pad_token = tokenizer.eos_token
        self.chat = {"auto": bool(getattr(tokenizer, "chat_template", None)), "chat": True,
                     "simple": False}[self.options.template]
        if self.chat and not getattr(tokenizer, "chat_template", None):
            raise ConfigError("task_options.template is chat but the tokenizer has no chat template",
                              fix="use template: simple (or auto), or a backbone whose tokenizer has one.")
        self.truncated = {"prompt": 0, "response": 0}

    # ---------------------------------------------------------------- rendering and encoding

    def render(self, example: PromptExample) -> tuple[str, str]:
        """(prompt text ending where the answer starts, response text with its end marker)."""
        messages = [{"role": r, "content": c} for r, c in example.messages]
        if self.chat:
            prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            if example.response is None:
                return prompt, ""
            full = self.tokenizer.apply_chat_template(messages + [{"role": "assistant", "content": example.response}],
                                                      tokenize=False)
            if not full.startswith(prompt):
                raise ConfigError("the chat template renders the conversation differently with and without the answer",
                                  fix="set task_options.template: simple.")
            return prompt, full[len(prompt):]
        prompt = "".join(f"### {role.capitalize()}:\n{content}\n\n" for role, content in example.messages)
        return prompt + "### Assistant:\n", example.response or ""

    def prompt_ids(self, example: PromptExample) -> list[int]:
        return self._prompt_tokens(self.render(example)[0])

    def _prompt_tokens(self, text: str) -> list[int]:
        # a chat template writes its own special tokens; the simple template takes the tokenizer's (a BOS)
        return self.tokenizer(text, add_special_tokens=not self.chat)["input_ids"]

    def encode(self, examples, count: bool = True) -> EncodedDataset:
        """Features of the examples; `count`: add the cuts to the run's counts and warnings (off
        for re-encoding an already counted split)."""
        before = dict(self.truncated)
        features = [self._feature(ex, count) for ex in examples]
        prompts, responses = (self.truncated[k] - before[k] for k in ("prompt", "response"))
        if prompts or responses:
            self.warnings.append(f"{prompts} of {len(examples)} prompts lost their start and {responses} responses "
                                 f"were cut to fit model.max_length={self.max_length}")
        return EncodedDataset(features)

    def _feature(self, example: PromptExample, count: bool = True) -> dict:
        prompt_text, response_text = self.render(example)
        prompt = self._prompt_tokens(prompt_text)
        response = self.tokenizer(response_text, add_special_tokens=False)["input_ids"]
        if not self.chat:
            response = response + [self.tokenizer.eos_token_id]
        room = self.max_length - len(response)
        if room < 1:  # the response alone does not fit: keep one prompt token and cut the response's end
            self.truncated["response"] += count
            if count and self.truncated["response"] == 1:
                self.warnings.append(f"{example.source}: response of {len(response)} tokens cut to "
                                     f"{self.max_length - 1} (model.max_length)")
            prompt, response = prompt[-1:], response[:self.max_length - 1]
        elif len(prompt) > room:
            self.truncated["prompt"] += count
            prompt = prompt[-room:]  # the end of the prompt sits next to the answer: keep it
        ids = prompt + response
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE] * len(prompt) + response}

    def pack(self, dataset: EncodedDataset) -> EncodedDataset:
        """Whole examples concatenated, in order, into blocks of at most max_length tokens."""
        blocks, current = [], {"input_ids": [], "attention_mask": [], "labels": []}
        for f in dataset.features:
            if current["input_ids"] and len(current["input_ids"]) + len(f["input_ids"]) > self.max_length:
                blocks.append(current)
                current = {"input_ids": [], "attention_mask": [], "labels": []}
            for key in current:
                current[key] = current[key] + list(f[key])
        if current["input_ids"]:
            blocks.append(current)
        return EncodedDataset(blocks)

    def collator(self):
        from transformers import DataCollatorForSeq2Seq

        return DataCollatorForSeq2Seq(self.tokenizer, label_pad_token_id=IGNORE, padding=True)

    def build_model(self, source: str, revision: str | None = None, **config_overrides):
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(source, revision=revision, **config_overrides)
        if model.config.pad_token_id is None:
            model.config.pad_token_id = self.tokenizer.pad_token_id
        return model, []

    # ---------------------------------------------------------------- evaluation and generation

    @torch.inference_mode()
    def response_loss(self, model, examples, batch_size: int, progress: bool, desc: str) -> tuple[float, int]:
        """Mean cross-entropy per response token (teacher forcing), and the token count."""
        from ..evaluation.predict import model_device

        collate, device = self.collator(), model_device(model)
        total, count = 0.0, 0
        model.eval()
        features = self.encode(examples, count=False).by_length().features  # counted when first encoded
        for start in tqdm(range(0, len(features), batch_size), desc=f"{desc} (loss)", disable=not progress):
            batch = {k: v.to(device) for k, v in collate(features[start:start + batch_size]).items()}
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
            labels = batch["labels"][:, 1:]
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels.reshape(-1),
                                                     ignore_index=IGNORE, reduction="sum")
            total += float(loss)
            count += int((labels != IGNORE).sum())
        return total / max(count, 1), count

    @torch.inference_mode()
    def generate(self, model, examples, *, batch_size: int = 16, progress: bool = False, desc: str = "generate"
                 ) -> list[str]:
        """The model's response to each example's prompt (greedy or sampled, as configured)."""
        from ..evaluation.predict import model_device

        o, device = self.options, model_device(model)
        model.eval()
        side, self.tokenizer.padding_side = self.tokenizer.padding_side, "left"  # new tokens follow every prompt
        out = []
        try:
            for start in tqdm(range(0, len(examples), batch_size), desc=desc, disable=not progress):
                prompts = [self.prompt_ids(ex)[-(self.max_length - 1):] for ex in examples[start:start + batch_size]]
                batch = self.tokenizer.pad({"input_ids": prompts}, return_tensors="pt").to(device)
                kwargs = {"do_sample": True, "temperature": o.temperature, "top_p": o.top_p} if o.do_sample else \
                    {"do_sample": False}
                generated = model.generate(**batch, max_new_tokens=o.max_new_tokens, pad_token_id=self.tokenizer.pad_token_id,
                                           eos_token_id=self.tokenizer.eos_token_id, **kwargs)
                out += self.tokenizer.batch_decode(generated[:, batch["input_ids"].shape[1]:], skip_special_tokens=True)
        finally:
            self.tokenizer.padding_side = side
        return [text.strip() for text in out]

    def evaluate(self, model, examples, *, batch_size, progress, desc, precision="fp32") -> dict:
        return self.evaluate_with_generations(model, examples, batch_size=batch_size, progress=progress, desc=desc)[0]

    def evaluate_with_generations(self, model, examples, *, batch_size: int, progress: bool, desc: str
                                  ) -> tuple[dict, list[dict]]:
        """(metrics, one record per generated prompt: the first `eval_generations` examples)."""
        loss, tokens = self.response_loss(model, examples, batch_size, progress, desc)
        metrics = {"n": len(examples), "response_tokens": tokens, "loss": loss, "perplexity": math.exp(min(loss, 50))}
        sample = examples[:self.options.eval_generations]
        if not sample:
            return metrics, []
        texts = self.generate(model, sample, batch_size=min(batch_size, 16), progress=progress, desc=f"{desc} (generate)")
        generations = [{"source": ex.source, "prompt": ex.messages[-1][1], "reference": ex.response, "generated": text,
                        "exact_match": exact_match(text, ex.response), "token_f1": token_f1(text, ex.response)}
                       for ex, text in zip(sample, texts)]
        metrics["exact_match"] = sum(g["exact_match"] for g in generations) / len(sample)
        metrics["token_f1"] = sum(g["token_f1"] for g in generations) / len(sample)
        metrics["generated"] = len(sample)
        return metrics, generations

    def score_held_out(self, model, data, cfg, precision, progress, log, run_dir):
        """Dev/test loss and perplexity, and the generations for the first `eval_generations`
        prompts of each, written to RUN_DIR/generations.jsonl."""
        from .. import artifacts as art

        metrics, rows = {}, []
        for split, examples in (("dev", data.dev), ("test", data.test)):
            if examples:
                metrics[split], generations = self.evaluate_with_generations(
                    model, examples, batch_size=cfg.training.eval_batch_size, progress=progress, desc=f"evaluate {split}")
                rows += [{"split": split, **g} for g in generations]
        if rows:
            art.write_json_lines(run_dir / "generations.jsonl", rows)
            log(f"{len(rows)} generations written to {run_dir / 'generations.jsonl'}")
        return metrics, {"truncated": dict(self.truncated)}

    def training_dataset(self, encoded: EncodedDataset) -> EncodedDataset:
        return self.pack(encoded) if self.options.packing else encoded

    def predict(self, model, inputs, *, batch_size, progress, precision="fp32") -> list[dict]:
        examples = [item if isinstance(item, PromptExample) else PromptExample((("user", str(item)),)) for item in inputs]
        texts = self.generate(model, examples, batch_size=min(batch_size, 16), progress=progress)
        return [{"prompt": ex.messages[-1][1], "response": text} for ex, text in zip(examples, texts)]


def _normalise(text: str) -> list[str]:
    text = re.sub(r"\b(a|an|the)\b", " ", text.lower())
    return "".join(ch for ch in text if ch not in string.punctuation).split()


def exact_match(prediction: str, reference: str | None) -> float:
    """1.0 when equal after lower-casing and dropping punctuation and articles (SQuAD's rule)."""
    return float(reference is not None and _normalise(prediction) == _normalise(reference))


def token_f1(prediction: str, reference: str | None) -> float:
    """F1 of the bags of normalised words (SQuAD's rule)."""
    if reference is None:
        return 0.0
    pred, ref = _normalise(prediction), _normalise(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if not common:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)
