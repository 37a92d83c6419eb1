"""`method.name: auto`: decide the recipe before training, from measurements that cost seconds.

1. Without unlabeled text, or for a task other than classification: supervised.
2. Otherwise the labeled examples and the pool are embedded once (and their words' TF-IDF
   built), and every way of labeling the pool (held_out.candidates) is measured by
   cross-validation over the labeled examples. The best that is better than chance becomes
   self-training's bootstrap (its labels train from the first step); where none is beyond luck,
   the user's label descriptions still are unless they score below chance (their words are
   evidence the labels need not prove); otherwise supervised, since pseudo labels would be
   noise. Where a class has one example, nothing can be held out: the bootstraps' own checks
   decide, in order (clusters, descriptions, labels).
   The gate (gate.py): unless the bootstrap got every held-out example right, supervised
   fine-tuning, as step 3 would train it, is measured on the same folds, and self-training is
   kept only where its pool labels are shown more right: at least as right at the pool's
   estimated class shares, and either winning a sign test over the examples only one route
   gets right or scoring far beyond chance (descriptions: at least as right suffices).
3. Supervised trains as SetFit does: a contrastive first stage tunes the backbone, then the head
   alone trains, started as a logistic regression on the features the stage shaped; the head
   reads the mean of the tokens where the backbone was trained to pool so (tasks/pooling.py).
4. The steps: self-training's preset (the finetune recipe then plans fewer where
   `training.time_budget` would not hold them at the speed it measures on this machine).

Every measurement and the reason for the choice go to the log and to `auto` in lmtune_run.json;
the run's config.yaml holds the resolved method, so the run can be repeated without auto.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from ...config import RunConfig
from ...options.methods import AutoOptions
from ..self_training.clusters import bootstrap_problem, lexical_features
from ..self_training.descriptions import disagreement_problem
from .gate import EVIDENCE, FAR_BEYOND_CHANCE, judge
from .held_out import (
    Candidate,
    Measured,
    better_than_chance,
    candidates,
    chance_rate,
    folds,
    held_out_accuracy,
    label_pool,
    not_below_chance,
)

# What auto trains with when the pool is labeled: self-training keeping the bootstrap's labels
# for the whole run, 2 pool texts per labeled one in each step (the preset tuned on BBC News and
# checked on Rotten Tomatoes, BENCHMARKS.md).
SELF_TRAINING = {"name": "self-training", "rounds": 0, "unlabeled_ratio": 2.0, "bootstrap_checks": False}
SELF_TRAINING_STEPS = 120
# Where auto trains supervised (single-label classification, full fine-tuning): a contrastive
# first stage, better than without on 8 of 9 dev-split pairs (BENCHMARKS.md, "method auto"); then
# the head alone from a probe of the shaped features, better than fine-tuning everything after
# the stage (BENCHMARKS.md, "auto's supervised route as SetFit trains")
SUPERVISED_CONTRASTIVE_STEPS = 30
BUDGET_RESHUFFLES = 20


@dataclass
class Plan:
    config: RunConfig  # the run's config with the method (and steps) auto chose
    record: dict  # what was measured and why, for the run file
    views: dict | None = None  # view -> (labeled rows, pool rows), for the bootstrap to reuse


def plan(cfg: RunConfig, task, data, model, log, yardstick=None) -> Plan:
    """The recipe for this data. `model`: the task model, whose backbone embeds the texts;
    `yardstick(splits, config)`: (each labeled example's class from supervised fine-tuning
    without its fold, as `config` trains it, the classes' shares among that model's answers on
    pool texts) (training/cross_fit.py; None: no gate)."""
    options = cfg.method.options()
    chosen_options = AutoOptions.model_validate(options)
    allowed, descriptions = chosen_options.candidates, chosen_options.label_descriptions
    record: dict = {"requested": {"name": "auto", **options}}
    started = time.perf_counter()
    if cfg.task != "classification":
        return _decided(cfg, {"name": "supervised"}, record, log,
                        f"task {cfg.task!r}: auto plans classification only, so supervised")
    if getattr(task, "windows", False):
        return _decided(cfg, {"name": "supervised"}, record, log, "task_options.long_text: chunks trains on windows, "
                        "and the semi-supervised methods read one row per text, so supervised")
    if not data.unlabeled:
        return _supervised(cfg, model, record, log, "no unlabeled text, so supervised")
    classes = np.array([task.labels.index(ex.label) for ex in data.train])
    views, described = _views(model, task, data, descriptions, log)
    splits = folds(classes, cfg.seed)
    choice, why, best = choose(views, classes, len(task.labels), described, allowed, splits, record, log)
    if choice is not None and best is not None and yardstick is not None and chosen_options.gate:
        supervised = _supervised(cfg, model, {}, lambda _: None, "").config  # the route the gate weighs against
        choice, why = _gate(choice, why, best, classes, task.labels, splits,
                            lambda s: yardstick(s, supervised), record, log)
    record["label_budget"] = label_budget(views["embedding"][0], classes, cfg.seed, log)
    record["seconds"] = round(time.perf_counter() - started, 1)
    if choice is None:
        return _supervised(cfg, model, record, log, why)
    method = {**SELF_TRAINING, "bootstrap": choice.bootstrap, "bootstrap_views": list(choice.views)}
    if choice.bootstrap == "descriptions":
        method["label_descriptions"] = descriptions
    training = {}
    if "max_steps" not in cfg.training.model_fields_set:
        training["max_steps"] = SELF_TRAINING_STEPS
    out = _decided(cfg, method, record, log, why, training)
    out.views = views
    return out


def choose(views: dict, classes: np.ndarray, n_classes: int, described: np.ndarray | None, allowed: list[str],
           splits, record: dict, log, labeler=label_pool) -> tuple[Candidate | None, str, Measured | None]:
    """The bootstrap to self-train from (None: supervised), why, and its held-out measurement
    (None where nothing was held out); `views`: name -> (labeled rows, pool rows) of the built
    views; `described`: the descriptions' embeddings or None; `splits`: folds() of the classes."""
    record["views"] = sorted(views)
    if len(np.unique(classes)) < n_classes and "clusters" in allowed:  # a class with no example has no cluster seed
        allowed = [a for a in allowed if a != "clusters"]
        record["clusters"] = "not a candidate: a label has no labeled example to seed its cluster"
    order = candidates(sorted(views, key=["embedding", "lexical"].index), described is not None, allowed)
    if not order:
        return None, "no bootstrap can be built from these views and options, so supervised", None
    if splits is None:
        return (*_by_checks(order, views, classes, n_classes, described, record, labeler), None)
    return _by_held_out(order, views, classes, n_classes, described, splits, record, log, labeler)


def label_budget(labeled: np.ndarray, classes: np.ndarray, seed: int, log) -> dict | None:
    """What more labels would buy the labels alone (a frozen probe's learning curve,
    evaluation/learning_curve.py): predicted at 2x and 4x today's labels per class."""
    from ...evaluation.learning_curve import budgets_for, fit_curve, measure_curve

    have = int(np.bincount(classes)[np.unique(classes)].min())
    budgets = budgets_for(have)
    if not budgets:
        return None
    curve = fit_curve(budgets, measure_curve(labeled, classes, budgets, BUDGET_RESHUFFLES, seed), [2 * have, 4 * have],
                      1 / len(np.unique(classes)))
    log("auto: labels alone (a frozen probe of the backbone) would reach " + ", ".join(
        f"~{curve.predicted[k]:.0%} at {k} per class" for k in curve.targets) + " (`lmtune data budget` for more)")
    return curve.summary()


def _views(model, task, data, descriptions, log) -> tuple[dict, np.ndarray | None]:
    """The bootstrap's views of the labeled examples and the pool (built ones only), and the
    descriptions' embeddings in label order (None without descriptions)."""
    from ...evaluation.predict import embed_features, embed_texts
    from ...models import backbone_of

    body, tokenizer = backbone_of(model), task.tokenizer
    log(f"auto: embedding {len(data.train) + len(data.unlabeled)} texts to measure how each bootstrap labels "
        "held-out examples")
    views = {"embedding": (embed_features(body, tokenizer, task.encode(data.train).features, progress=False),
                           embed_features(body, tokenizer, task.encode(data.unlabeled).features, progress=False))}
    words = lexical_features([e.text for e in data.train + data.unlabeled])
    if words is not None:
        views["lexical"] = (words[:len(data.train)], words[len(data.train):])
    described = None if not descriptions else embed_texts(
        body, tokenizer, [descriptions[name] for name in task.labels], max_length=task.max_length, progress=False)
    return views, described


def _by_held_out(order: list[Candidate], views, classes, n, described, splits, record, log, labeler):
    measured = [held_out_accuracy(c, views, classes, n, splits, described, labeler) for c in order]
    record["held_out"] = {"folds": len(splits), "examples": int(sum(len(h) for _, h in splits)),
                          "accuracy": {m.candidate.name: round(m.accuracy, 4) for m in measured}}
    for m in measured:
        log(f"auto: {m.candidate.name}: {m.correct} of {m.total} held-out labeled examples right "
            f"({m.accuracy:.1%}; {m.seconds:.1f} s)")
    best = max(measured, key=lambda m: m.correct)  # max keeps the first of equals: the order's preference
    if better_than_chance(best, classes):
        return best.candidate, (f"self-training from the {best.candidate.name} bootstrap: it labels held-out "
                                f"labeled examples best ({best.accuracy:.0%})"), best
    described = next((m for m in measured if m.candidate.bootstrap == "descriptions"), None)
    if described is not None and not_below_chance(described, classes):
        return described.candidate, (
            f"self-training from the {described.candidate.name} bootstrap: the descriptions label "
            f"{described.correct} of {described.total} held-out labeled examples right, not fewer than answering "
            f"the commonest class would ({chance_rate(classes):.0%}), if not beyond luck on so few; they are the "
            "user's own words, so it takes the labels showing them worse to set them aside"), described
    return None, (f"no way of labeling the pool beats always answering the commonest class on held-out "
                  f"labeled examples (best: {best.candidate.name}, {best.accuracy:.0%}): pseudo labels would "
                  "be noise, so supervised"), best


def _gate(choice: Candidate, why: str, best: Measured, classes, labels, splits, yardstick, record, log):
    """Self-training kept only where its pool labels are at least as right as supervised
    fine-tuning on held-out examples (gate.py)."""
    if best.correct == best.total:
        record["gate"] = {"skipped": "the bootstrap labels every held-out example right"}
        return choice, why + "; every one right, so supervised fine-tuning cannot do better there"
    started = time.perf_counter()
    verdict = judge(best, *yardstick(splits), classes, len(labels), given=choice.bootstrap == "descriptions")
    record["gate"] = {**verdict.summary(labels), "seconds": round(time.perf_counter() - started, 1)}
    shares = ", ".join(f"{label} {share:.0%}" for label, share in zip(labels, verdict.shares))
    measured = (f"at the pool's estimated class shares ({shares}) the {choice.name} bootstrap labels "
                f"{verdict.semi:.0%} of held-out examples right, supervised fine-tuning on the other folds "
                f"{verdict.supervised:.0%}")
    duel = (f"; it is right on {verdict.wins} held-out examples supervised gets wrong and wrong on {verdict.losses} "
            f"it gets right (luck gives such a lead {verdict.chance:.0%} of the time, and such a score "
            f"{verdict.luck * 100:.2g}% of the time)")
    if verdict.keep:
        kept = "" if verdict.shown else " (not shown beyond luck, but the descriptions are the user's and not worse)"
        return choice, f"{why}; {measured}{duel}{kept}"
    if verdict.semi < verdict.supervised:
        return None, (f"{measured}: self-training would learn from labels less right than the labels alone give, "
                      "so supervised")
    return None, (f"{measured}{duel}: not enough to show its pool labels are better than the labels alone (a lead "
                  f"luck gives under {EVIDENCE:.0%} of the time, or a score under {FAR_BEYOND_CHANCE:.1%}), "
                  "so supervised")


def _by_checks(order: list[Candidate], views, classes, n, described, record, labeler):
    """One example in some class: the first candidate its own checks accept."""
    record["held_out"] = None
    tried = {}
    for candidate in order:
        if candidate.bootstrap == "labels":
            return candidate, ("a class has one labeled example, so nothing can be held out to measure the "
                               "bootstraps; " + (f"{'; '.join(f'{k}: {v}' for k, v in tried.items())}; "
                                                 if tried else "") +
                               "self-training from the labels' own linear probe")
        found = labeler(candidate, views, classes, n, described)
        if candidate.bootstrap == "clusters":
            problem = next((p for f in found.found.values() if (p := bootstrap_problem(f))), None)
        else:
            agreed = round(found.found["descriptions"].agreement * len(classes))
            problem = disagreement_problem(agreed, len(classes), n)
        if problem is None:
            return candidate, (f"a class has one labeled example, so nothing can be held out; the "
                               f"{candidate.name} bootstrap passes its checks")
        tried[candidate.name] = problem
    record["checks"] = tried
    return None, "no bootstrap passes its checks, so supervised"


def _supervised(cfg: RunConfig, model, record: dict, log, why: str) -> Plan:
    """Supervised as SetFit trains, where the config leaves it to auto (and the backbone trains):
    a contrastive first stage shapes the backbone, then only the head trains, started as a
    logistic regression on the features the stage left; and the head reading the mean of the
    tokens where the backbone was trained to pool so (model.pooling auto)."""
    training, chosen_model = {}, {}
    if ("contrastive_steps" not in cfg.training.model_fields_set and cfg.peft is None
            and cfg.training.freeze != "head-only"):  # the user's frozen backbone: no stage to shape it
        training["contrastive_steps"] = SUPERVISED_CONTRASTIVE_STEPS
        why += f", after {SUPERVISED_CONTRASTIVE_STEPS} contrastive steps on pairs of the labels"
        if "freeze" not in cfg.training.model_fields_set and "head_init" not in cfg.model.model_fields_set:
            training["freeze"], chosen_model["head_init"] = "head-only", "probe"
            why += (" and then the head alone, started as a logistic regression on the features they shaped "
                    "(SetFit's recipe)")
    if cfg.model.pooling == "auto" and cfg.peft is None:
        pooling, reason = _pooling(model, cfg.model.revision)
        record["pooling"] = {"chosen": pooling, "why": reason}
        if pooling == "mean":
            chosen_model["pooling"] = "mean"
            why += ", the head reading the mean of the tokens (the backbone was trained to pool so)"
    return _decided(cfg, {"name": "supervised"}, record, log, why, training, chosen_model)


def _pooling(model, revision: str | None) -> tuple[str, str]:
    """mean where the backbone declares mean pooling and its layers can average; first otherwise."""
    from ...tasks.pooling import declared_pooling, has_mean_pooling, mean_pooling_problem

    if has_mean_pooling(model):
        return "mean", "the backbone's head reads the mean of the tokens already"
    declared = declared_pooling(getattr(model, "name_or_path", None), revision)
    if declared != "mean":
        return "first", f"the backbone declares {declared or 'no'} pooling of its own"
    problem = mean_pooling_problem(model)
    return ("first", problem) if problem else ("mean", "the backbone pools by mean (its sentence-transformers config)")


def _decided(cfg: RunConfig, method: dict, record: dict, log, why: str, training: dict | None = None,
             model: dict | None = None) -> Plan:
    record.update(chosen=method, training=training or {}, why=why, **({"model": model} if model else {}))
    log(f"auto: {why}")
    resolved = cfg.model_copy(update={
        "method": type(cfg.method).model_validate(method),
        "training": cfg.training.model_copy(update=training or {}),
        "model": cfg.model.model_copy(update=model or {})})
    return Plan(resolved, record)
