"""`training.contrastive_steps`: a first stage on pairs of labeled texts (methods/contrastive.py),
then the head started again (model.head_init) from the features the stage shaped. With
`training.freeze: head-only` the stage tunes the backbone and the run then trains the head alone
on the features it left: SetFit's recipe (pairs shape the encoder, a classifier learns on top)."""
from __future__ import annotations

import time

from ..config import RunConfig
from ..methods.contrastive import PairContrast
from .freezing import apply_freezing
from .in_memory import fit_in_memory


def contrastive_stage(model, task, cfg: RunConfig, examples: list, dataset, log) -> dict | None:
    """Train `model` in place for cfg.training.contrastive_steps on the pair loss; returns what
    was done, for the run file (None where the stage is off)."""
    steps = cfg.training.contrastive_steps
    if not steps:
        return None
    started = time.perf_counter()
    if cfg.training.freeze != "head-only":  # the stage moves only what the run itself will train, but
        apply_freezing(model, cfg.training.freeze)  # under head-only it is the one time the backbone moves
    stage = cfg.model_copy(update={"training": cfg.training.model_copy(update={"max_steps": steps})})
    fit_in_memory(model, task, stage, PairContrast(PairContrast.Config(), task), examples, dataset)
    # no square layer is reset this time: the stage trained the one the features pass through
    head = task.init_head(model, dataset, cfg.model.head_init, [])
    seconds = round(time.perf_counter() - started, 1)
    log(f"contrastive stage: {steps} steps on pairs of the {len(examples)} labeled texts ({seconds:.0f} s)"
        + ("; " + head if head else ""))
    return {"steps": steps, "seconds": seconds}
