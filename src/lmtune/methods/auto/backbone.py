"""`method: auto` and the backbone: a stronger packaged backbone (mpnet) where it is installed, the
config names no backbone of its own, and auto's whole plan fits the time budget at the speed
measured on this machine and this data.

mpnet's frozen sentence embeddings are far ahead of MiniLM's on sentiment (issue 25's table,
BENCHMARKS.md) and it costs several times more per text; whether that cost fits is what decides,
so it is measured (one forward pass and one training step of mpnet on a few of the run's own
texts, the recipe's job) and the work auto's routes can take is counted here: every text it
embeds or scores, the gate's fold models, and the longer of the two training routes.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...config import RunConfig
from ...options.methods import AutoOptions
from .gate import SHARE_SAMPLE
from .held_out import MAX_FOLDS
from .plan import SELF_TRAINING, SELF_TRAINING_STEPS, SUPERVISED_CONTRASTIVE_STEPS

STRONGER = "mpnet"  # the packaged backbone auto may switch to
# without training.time_budget: the time lmtune's few-shot targets give one run (BENCHMARKS.md)
DEFAULT_BUDGET = 15 * 60


@dataclass
class Speed:
    """Seconds the candidate backbone takes on this machine, measured on the run's own texts."""
    forward_per_text: float  # inference, no gradient
    train_per_text: float  # one text's share of a training step (forward, backward, update)
    measured_in: float  # what loading and timing it cost
    train_timed: bool = True  # False: the plan did not fit even at forward-pass cost, so no step was timed

    @classmethod
    def at_least(cls, forward_per_text: float, measured_in: float) -> Speed:
        """A lower bound before a training step is timed: a step costs at least a forward pass."""
        return cls(forward_per_text, forward_per_text, measured_in, train_timed=False)


def candidate(cfg: RunConfig, installed, distributed: bool) -> tuple[str | None, str]:
    """(the stronger backbone to measure, or None; why). `installed(name)`: whether that packaged
    backbone's files are on this machine."""
    if cfg.method.name != "auto" or not AutoOptions.model_validate(cfg.method.options()).stronger_backbone:
        return None, "method.stronger_backbone is off"
    if "name" in cfg.model.model_fields_set:
        return None, f"the config names its backbone ({cfg.model.name})"
    if cfg.task != "classification":
        return None, f"task {cfg.task!r}: auto plans classification only"
    if cfg.peft is not None:
        return None, "a peft section: its target modules were written for the default backbone"
    if distributed:  # every process would time the backbone on its own and might choose differently
        return None, "under torchrun each process would measure on its own: the default backbone is kept"
    if not installed(STRONGER):
        return None, f"{STRONGER} is not installed (`make mpnet` installs it)"
    return STRONGER, ""


def timed_texts(cfg: RunConfig) -> int:
    """How many of the run's texts to time a step on: as many as one step of self-training's
    route trains on (a labeled batch and the pool texts drawn with it), so the per-text cost is
    the one at the batch size the run will use."""
    return int(cfg.training.batch_size * (1 + SELF_TRAINING["unlabeled_ratio"]))


def planned_seconds(speed: Speed, cfg: RunConfig, n_train: int, n_pool: int, n_scored: int,
                    supervised_steps: int, smallest_class: int) -> dict:
    """The seconds auto's plan can take on the candidate backbone, counted from `speed`:
    every labeled and pool text embedded for the plan, every dev and test text scored, and,
    with a pool, the gate's fold models (each the supervised route on a part of the labels,
    answering pool texts for the class shares; none where a class has one example) and the
    longer of the two routes; without one, the supervised route. The gate's folds are counted
    as training on all the labels, the head-only steps as forward passes of whole batches."""
    batch = cfg.training.batch_size
    # the supervised route: the contrastive stage trains the backbone; then, unless the config says
    # how to freeze, only the head trains (plan._supervised), a forward pass through the backbone
    head_only = "freeze" not in cfg.training.model_fields_set or cfg.training.freeze == "head-only"
    stage = cfg.training.contrastive_steps if "contrastive_steps" in cfg.training.model_fields_set \
        else SUPERVISED_CONTRASTIVE_STEPS
    supervised = batch * (stage * speed.train_per_text
                          + supervised_steps * (speed.forward_per_text if head_only else speed.train_per_text))
    seconds = {"embedding": speed.forward_per_text * (n_train + n_pool + n_scored)}
    if n_pool:
        folds = min(MAX_FOLDS, smallest_class) if smallest_class > 1 else 0  # one example: nothing held out
        seconds["gate"] = folds * (supervised + speed.forward_per_text * min(SHARE_SAMPLE, n_pool))
        per_step = batch * (1 + SELF_TRAINING["unlabeled_ratio"]) * speed.train_per_text
        seconds["training"] = max(supervised, SELF_TRAINING_STEPS * per_step)
    else:
        seconds["training"] = supervised
    seconds["total"] = sum(seconds.values())
    return {key: round(value, 1) for key, value in seconds.items()}


def decide(speed: Speed, planned: dict, budget: float | None) -> tuple[bool, str]:
    """Whether the candidate's plan fits the budget (the config's, else DEFAULT_BUDGET), and why."""
    limit = budget or DEFAULT_BUDGET
    named = "training.time_budget" if budget else "the default budget (training.time_budget unset)"
    fits = planned["total"] + speed.measured_in <= limit
    step = (f"{speed.train_per_text * 1000:.0f} ms of a training step per text" if speed.train_timed else
            "no training step timed: the plan does not fit even with steps as cheap as that")
    return fits, (f"{STRONGER} {'fits' if fits else 'does not fit'} {named} of {limit / 60:.0f} min: its plan would "
                  f"take {'up to' if speed.train_timed else 'more than'} {planned['total'] / 60:.1f} min here "
                  f"({speed.forward_per_text * 1000:.0f} ms to embed a text, {step}; measured on this data)")
