"""`lmtune pretrain`: continue a backbone's self-supervised objective (DAPT/TAPT) on domain text.

The run dir it writes is a backbone: `lmtune train --set model.name=RUN_DIR` fine-tunes it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..config import RunConfig
from ..data.corpus import Corpus, read_corpus
from ..errors import ConfigError
from ..loading import save_model
from ..methods import with_attack
from ..methods.supervised import Supervised
from ..models import config_overrides, load_tokenizer, resolve_backbone
from ..tasks.language_modeling import LanguageModeling, detect_objective
from ..training.common import make_trainable, tensorboard_dir, training_arguments, write_rejects
from ..training.peft import MERGEABLE, merged, peft_type_of
from ..training.trainer import MethodTrainer
from .base import Recipe


class PerplexityTrainer(MethodTrainer):
    """Evaluation = held-out (pseudo-)perplexity, so best-checkpoint selection, early stopping and
    TensorBoard all see it."""

    def __init__(self, *args, lm: LanguageModeling, eval_tokens: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.lm = lm
        self.eval_tokens = eval_tokens

    def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix: str = "eval") -> dict:
        result = self.lm.perplexity(self.model, eval_dataset or self.eval_dataset, self.eval_tokens,
                                    self.args.per_device_eval_batch_size)
        metrics = {f"{metric_key_prefix}_perplexity": result["perplexity"]}
        self.log(metrics)
        self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
        return metrics


def carry_backbone_weights(run_dir: Path, source: str, lm_model) -> list[str]:
    """Copy into the saved checkpoint the backbone weights the LM model class leaves out (BERT's
    masked-LM class has no pooler): without them a classifier fine-tuned from this run would get
    a random pooler instead of the pretrained one. Loading as an LM model ignores the extra keys."""
    from safetensors.torch import load_file, save_file
    from transformers import AutoModel

    weights = run_dir / "model.safetensors"
    if not weights.is_file():  # sharded checkpoint of a large model: left as transformers wrote it
        return []
    prefix = lm_model.base_model_prefix
    present = set(lm_model.state_dict())
    base = AutoModel.from_pretrained(source)
    extra = {f"{prefix}.{k}": v.contiguous() for k, v in base.state_dict().items() if f"{prefix}.{k}" not in present}
    if not extra:
        return []
    tensors = load_file(weights)
    tensors.update(extra)
    tmp = weights.with_suffix(".tmp")
    save_file(tensors, tmp, metadata={"format": "pt"})
    tmp.replace(weights)
    return sorted(extra)


@dataclass
class PretrainResult:
    run_dir: Path
    metrics: dict
    corpus: Corpus
    seconds: float


def pretrain(cfg: RunConfig, **options) -> PretrainResult:
    """Continue the backbone's objective on the corpus, write the run dir (a backbone)."""
    return Pretrain(cfg, **options).run()


class Pretrain(Recipe):
    kind = "pretrain"

    def setup(self) -> None:
        from transformers import AutoConfig

        cfg, log, p = self.cfg, self.log, self.cfg.pretrain
        self.corpus = corpus = read_corpus(cfg.data, p.min_words, cfg.seed, p.max_texts)
        if len(corpus.train) < corpus.available:
            log(f"pretrain.max_texts: training on a random {len(corpus.train)} of {corpus.available} texts")
        write_rejects(self.run_dir, corpus.rejects, log)
        self.tokenizer = tokenizer = load_tokenizer(cfg.model.name, cfg.model.revision)
        self.source = source = resolve_backbone(cfg.model.name, cfg.model.revision)
        objective = p.objective if p.objective != "auto" else detect_objective(AutoConfig.from_pretrained(source))
        self.objective = objective
        self.lm = lm = LanguageModeling(tokenizer, objective, cfg.model.max_length, p.mask_rate, p.whole_word_mask, p.packing)
        model, fresh, tied = lm.build_model(source, cfg.model.revision,
                                            **config_overrides(source, cfg.model.revision, cfg.model.attention_dropout))
        if fresh:
            log(f"newly initialised LM-head weights (not in the backbone): {', '.join(fresh)}")
        if tied:
            log("output decoder tied to the input embeddings")
        train_ds = lm.encode(corpus.train)
        self.stats = stats = lm.stats
        self.held_ds = held_ds = LanguageModeling(tokenizer, objective, cfg.model.max_length, packing=False).encode(
            corpus.held_out) if corpus.held_out else None
        log(f"corpus: {stats.texts} texts -> {stats.blocks} blocks of <= {lm.block_size} tokens ({stats.tokens} tokens"
            + (f"; {stats.truncated_texts} texts truncated" if stats.truncated_texts else "")
            + (f"; last {stats.dropped_tokens} tokens dropped" if stats.dropped_tokens else "")
            + f"); {len(corpus.held_out)} held-out texts; objective: {objective}")

        if cfg.peft and peft_type_of(cfg.peft) not in MERGEABLE:
            raise ConfigError(f"peft.method {cfg.peft.method} cannot be folded into the backbone, and a pretraining "
                              "run must leave a backbone", fix="use lora, adalora or ia3 for pretraining.")
        model, trainable, extra_callbacks = make_trainable(model, cfg, task_type="CAUSAL_LM" if objective == "clm" else None,
                                                           head=[], n_train=len(train_ds), log=log)
        select = ("perplexity", False) if held_ds is not None else None
        # eval_on_start: the perplexity before any update is the baseline
        args, stoppers, precision = training_arguments(cfg, self.run_dir, len(train_ds), select=select,
                                                       progress=self.progress, log=log, eval_on_start=select is not None)
        self.run_info = self.start_records({**corpus.summary(), "encoding": stats.__dict__}, precision,
                                           task="pretrain", kind="pretrain", objective=objective, newly_initialised=fresh,
                                           decoder_tied=tied, **trainable)
        tensorboard_dir(self.run_dir)
        self.trainer = PerplexityTrainer(model=model, args=args, train_dataset=train_ds, eval_dataset=held_ds,
                                         data_collator=lm.collator(), processing_class=tokenizer,
                                         callbacks=list(self.callbacks) + stoppers + extra_callbacks,
                                         method=with_attack(Supervised(Supervised.Config(), lm), cfg.adversarial),
                                         layer_lr_decay=cfg.training.layer_lr_decay, lm=lm, eval_tokens=p.eval_tokens)

    def save(self) -> None:
        self.model = merged(self.trainer.model, copy_first=False)  # a backbone: adapters folded into its weights
        save_model(self.model, self.tokenizer, self.run_dir)
        carried = carry_backbone_weights(self.run_dir, self.source, self.model)
        if carried:
            self.log(f"kept backbone weights the LM head model does not use, for fine-tuning later: {', '.join(carried)}")

    def score(self) -> dict:
        state = self.trainer.state
        history = [h["eval_perplexity"] for h in state.log_history if "eval_perplexity" in h]
        metrics = {"objective": self.objective, "train_seconds": self.train_seconds, "global_step": state.global_step,
                   "epochs": state.epoch, "encoding": self.stats.__dict__, **self.speed}
        if self.held_ds is not None:
            after = self.lm.perplexity(self.model, self.held_ds, self.cfg.pretrain.eval_tokens,
                                       self.cfg.training.eval_batch_size)
            metrics.update(perplexity_before=history[0] if history else None, perplexity_after=after["perplexity"],
                           perplexity_per_evaluation=history, scored_tokens=after["scored_tokens"])
        return metrics

    def result(self, metrics: dict) -> PretrainResult:
        return PretrainResult(self.run_dir, metrics, self.corpus, metrics.get("wall_seconds", self.train_seconds))
