"""`method:` options of each training method, and the tasks each applies to."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from ..config import StrictModel
from . import METHOD_OPTIONS, Options

# what self-training's bootstrap can cluster: the backbone's sentence embeddings, the words' TF-IDF
BOOTSTRAP_VIEWS = ("embedding", "lexical")


class SupervisedOptions(StrictModel):
    pass


class SemiConfig(StrictModel):
    alpha: float = Field(1.0, ge=0, description="weight of the unlabeled loss; 0 = supervised training exactly")
    unlabeled_ratio: float = Field(2.0, gt=0, le=16, description="unlabeled examples per labeled one in each step")
    ramp_up: float = Field(0.0, ge=0, le=1, description="fraction of the steps over which alpha rises from 0")
    # training-signal annealing (UDA): labeled examples the model already gets right with more
    # than a threshold rising from 1/K to 1 leave the loss, so a few labels are not overfit
    tsa: Literal["none", "linear", "exp", "log"] = "none"


class MLMAuxOptions(SemiConfig):
    alpha: float = Field(0.1, ge=0, description="weight of the masked-LM loss")
    unlabeled_ratio: float = Field(1.0, gt=0, le=16)
    mask_rate: float = Field(0.15, gt=0, lt=1)


class SelfTrainingOptions(SemiConfig):
    alpha: float = Field(1.0, ge=0, description="weight of the pseudo-labeled loss")
    unlabeled_ratio: float = Field(1.0, gt=0, le=16)
    rounds: int = Field(2, ge=0, le=20, description="times the model labels the pool again; 0 (with a "
                                                   "bootstrap) keeps the bootstrap's labels for the whole run")
    threshold: float = Field(0.7, ge=0, le=1, description="keep pseudo labels at least this confident")
    # per class at most round/rounds of the pool x the labeled class share: balanced classes,
    # and a curriculum (the most confident first, more each round)
    balance: bool = True
    soft: bool = Field(False, description="train on the teacher's probabilities instead of its argmax")
    temperature: float = Field(0.5, gt=0, le=1, description="sharpening of soft labels")
    teacher: Literal["student", "ema"] = "student"
    ema_decay: float = Field(0.99, gt=0, lt=1)
    bootstrap: Literal["none", "clusters", "descriptions", "labels"] = Field(
        "none", description="label the pool before the first step (classification): clusters = seeded k-means "
                            "over the backbone's embeddings and the words' TF-IDF; descriptions = nearest "
                            "label description, refined by a linear classifier over the same views; labels = "
                            "a linear classifier over the same views trained on the labeled examples alone")
    bootstrap_checks: bool = Field(
        True, description="refuse clusters that the labeled examples do not fall into, and descriptions they "
                          "contradict; method auto turns this off, having measured the bootstrap on held-out labels")
    bootstrap_views: list[Literal["embedding", "lexical"]] = Field(
        list(BOOTSTRAP_VIEWS), min_length=1, description="what the bootstrap clusters: the backbone's sentence "
                                                         "embeddings, the words' TF-IDF (lexical), or both "
                                                         "(combined where they agree)")
    label_descriptions: dict[str, str] | None = Field(
        None, description="bootstrap: descriptions: one short sentence per label, e.g. "
                          "{negative: a negative review, positive: a positive review}")


def check_self_training(config: SelfTrainingOptions, task: str) -> tuple[str, str, str] | None:
    if config.bootstrap != "none" and task != "classification":
        return ("bootstrap", f"bootstrap: {config.bootstrap} gives one class per text; task {task!r} has none",
                "use bootstrap: none (the default) for this task.")
    if config.rounds == 0 and config.bootstrap == "none":
        return ("rounds", "rounds: 0 never labels the pool without a bootstrap, so nothing would train on it",
                "set bootstrap: clusters (or descriptions), or rounds: 1 or more.")
    if (config.bootstrap == "descriptions") != bool(config.label_descriptions):
        return (("label_descriptions", "bootstrap: descriptions needs a sentence per label",
                 "add label_descriptions: {label: sentence, ...} for every label.")
                if config.bootstrap == "descriptions" else
                ("label_descriptions", "label_descriptions are read by bootstrap: descriptions only",
                 "set bootstrap: descriptions, or remove label_descriptions."))
    if config.bootstrap == "descriptions" and "embedding" not in config.bootstrap_views:
        return ("bootstrap_views", "bootstrap: descriptions compares texts with the descriptions in the "
                                   "embedding view", "keep embedding in bootstrap_views.")
    return None


class DistillOptions(SemiConfig):
    alpha: float = Field(1.0, ge=0, description="weight of the teacher's soft labels on the pool (x T^2); 0 = the "
                                                "labels alone")
    unlabeled_ratio: float = Field(4.0, gt=0, le=16, description="pool texts per labeled example in each step")
    temperature: float = Field(2.0, gt=0, le=20, description="softens teacher and student alike: at T > 1 the "
                                                             "teacher's second choices teach too")


class AutoOptions(StrictModel):
    # `labels` (the labels' own probe) is not a default: where auto chose it (SpamAssassin, dev and
    # test splits) the run ended below supervised (BENCHMARKS.md, "method auto")
    candidates: list[Literal["clusters", "descriptions", "labels"]] = Field(
        ["clusters", "descriptions"], min_length=1,
        description="the bootstraps auto may choose between (self-training's bootstrap names; labels: the labeled "
                    "examples' own probe, off by default); supervised is chosen when none labels held-out "
                    "examples better than chance")
    label_descriptions: dict[str, str] | None = Field(
        None, description="one short sentence per label: makes the descriptions bootstrap a candidate")
    gate: bool = Field(
        True, description="fine-tune on the labels alone in each fold and keep self-training only where its pool "
                          "labels are at least as right on the held-out examples, weighted to the pool's class shares")
    stronger_backbone: bool = Field(
        True, description="where the config names no backbone: train on the packaged mpnet when it is installed and "
                          "auto's plan fits training.time_budget (15 min without one) at the speed measured here")


class ConsistencyOptions(SemiConfig):
    mode: Literal["uda", "fixmatch"] = "uda"
    augment: str = Field("synonym", description="augmenter for the noised view (`lmtune ls`), or none: dropout only")
    augment_options: dict[str, Any] = Field(default_factory=dict)
    views: int = Field(2, ge=1, le=16, description="noised copies made of each unlabeled text")
    threshold: float | None = Field(None, ge=0, le=1, description="confidence mask; default 0.8 (uda), 0.95 (fixmatch)")
    temperature: float = Field(0.4, gt=0, le=1, description="sharpening of the uda targets")
    # a memorised labeled set makes the model sure of every unlabeled text, and those sure, wrong
    # pseudo labels collapse it to one class (BENCHMARKS.md); annealing the labeled loss stops that
    tsa: Literal["none", "linear", "exp", "log"] = "exp"
    align: bool = Field(True, description="distribution alignment of the clean predictions (against collapse)")
    align_momentum: float = Field(0.99, ge=0, lt=1, description="of the running mean of the predictions")


class FixMatchOptions(ConsistencyOptions):
    mode: Literal["uda", "fixmatch"] = "fixmatch"


# augmenting a text changes its words: word-level tags would no longer align
CLASSIFICATION = ("classification",)

METHOD_OPTIONS.register("auto")(Options(
    AutoOptions, "The default: trains on the packaged mpnet where installed, no backbone is named and its plan fits "
                 "the time budget; measures each way of labeling the pool on held-out labels, then runs self-training "
                 "from the best, or supervised (no unlabeled text, another task, nothing beats chance)."))
METHOD_OPTIONS.register("supervised")(Options(
    SupervisedOptions, "Cross-entropy (the task's own loss) on labeled batches only."))
METHOD_OPTIONS.register("mlm-aux")(Options(
    MLMAuxOptions, "Labeled cross-entropy + alpha x masked-LM loss on unlabeled batches (shared encoder, own LM head)."))
METHOD_OPTIONS.register("self-training")(Options(
    SelfTrainingOptions, "Pseudo-label the pool each round (confidence threshold, class balance), train on it; "
                         "EMA teacher optional.", ("classification", "multi-label", "token-classification"),
    check_self_training))
METHOD_OPTIONS.register("distill")(Options(
    DistillOptions, "Labeled cross-entropy + alpha x T^2 x KL to a teacher's softened probabilities on the pool "
                    "(`lmtune distill TEACHER_RUN` supplies the teacher).", CLASSIFICATION))
METHOD_OPTIONS.register("consistency")(Options(
    ConsistencyOptions, "UDA-style consistency between an unlabeled text and its noised view (mode: uda | fixmatch).",
    CLASSIFICATION))
METHOD_OPTIONS.register("fixmatch")(Options(
    FixMatchOptions, "FixMatch: hard pseudo labels from the clean text (>= 0.95 sure) train the augmented view.",
    CLASSIFICATION))
