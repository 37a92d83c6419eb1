"""Semi-supervised methods on the toy task: each computes an unlabeled loss that falls, pseudo
labels obey their threshold and class caps, the EMA teacher follows the student, alpha = 0 is
supervised training to the bit, and a method without unlabeled text fails with a clear error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import lmtune
from conftest import Recorder
from lmtune import artifacts as art
from lmtune.errors import ConfigError
from lmtune.methods.pseudo_labels import EMATeacher, class_caps, select_balanced, sharpen
from lmtune.recipes.validation import validate_config

QUIET = dict(progress=False, log=lambda m: None)

METHODS = {
    "mlm-aux": {"name": "mlm-aux", "alpha": 0.5},
    "self-training": {"name": "self-training", "rounds": 2, "threshold": 0.6},
    "uda": {"name": "consistency", "augment": "deletion", "threshold": 0.0},
    "fixmatch": {"name": "fixmatch", "augment": "swap", "threshold": 0.0},  # masks: tested below
    "self-training-ema-soft": {"name": "self-training", "rounds": 2, "threshold": 0.5, "teacher": "ema",
                               "ema_decay": 0.9, "soft": True},
}


def semi_config(toy_config, method, labels_per_class=8, epochs=12):
    toy_config["data"]["labels_per_class"] = labels_per_class
    toy_config["method"] = dict(method)
    toy_config["training"].update(epochs=epochs, logging_steps=1, batch_size=4)
    return validate_config(toy_config)


@pytest.mark.parametrize("key", list(METHODS))
def test_unlabeled_loss_is_computed_and_logged_in_a_run(toy_config, key):
    recorder = Recorder()
    result = lmtune.train(semi_config(toy_config, METHODS[key]), callbacks=[recorder], **QUIET)
    losses = recorder.series("unlabeled_loss")
    assert len(losses) >= 6 and all(np.isfinite(losses)), recorder.logs[:3]
    assert recorder.series("supervised_loss") and recorder.series("alpha")  # each term logged on its own
    assert any((result.run_dir / art.TENSORBOARD).rglob("events.out.tfevents.*"))


@pytest.mark.parametrize("key", list(METHODS))
def test_unlabeled_loss_falls_when_trained_on(tiny_backbone, key):
    """Minimise the method's unlabeled loss alone on a fixed batch: it must fall."""
    from conftest import sentiment_rows
    from lmtune.data.examples import TextExample
    from lmtune.methods import get_method
    from lmtune.methods.base import Setup
    from lmtune.models import load_tokenizer
    from lmtune.tasks import get_task

    torch.manual_seed(0)
    task = get_task("classification")(["neg", "pos"], load_tokenizer(str(tiny_backbone)), 32)
    model, _ = task.build_model(str(tiny_backbone))
    spec = dict(METHODS[key])
    cls = get_method(spec.pop("name"))
    method = cls(cls.Config.model_validate({**spec, "threshold": 0.0} if "threshold" in spec else spec), task)
    rows = sentiment_rows(8, seed=4)
    pool = [TextExample(r["text"]) for r in rows]
    labeled = [TextExample(r["text"], r["label"]) for r in rows]
    method.setup(Setup(model, str(tiny_backbone), pool, labeled, task.encode(labeled), total_steps=30,
                       log=lambda message: None))
    if hasattr(method, "label_pool"):
        method.label_pool(model, round_no=method.config.rounds)
    data, collate = method.unlabeled_dataset(pool), method.unlabeled_collator()
    params = list(model.parameters()) + [p for m in method.extra_modules() for p in m.parameters()]
    optimizer = torch.optim.Adam(list({id(p): p for p in params}.values()), lr=1e-2)
    model.train()
    losses = []
    for step in range(30):
        torch.manual_seed(1)  # the same masks / views each step
        if hasattr(data, "rng"):
            data.rng.seed(1)
        batch = collate([data[i] for i in range(len(data))])
        loss, _ = method.unlabeled_loss(model, batch, step)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.5 * losses[0], losses


def test_self_training_rounds_are_recorded_and_obey_the_threshold(toy_config, monkeypatch):
    from lmtune.methods.self_training import method

    monkeypatch.setattr(method, "COLLAPSE_DRIFT", 1.0)  # a toy model may call the pool one class: not this test's point
    cfg = semi_config(toy_config, {"name": "self-training", "rounds": 3, "threshold": 0.6})
    result = lmtune.train(cfg, **QUIET)
    rounds = art.read_json(result.run_dir / art.RUN_FILE)["pseudo_label_rounds"]
    assert [r["round"] for r in rounds] == [1, 2, 3]
    pool = rounds[0]["pool"]
    for r in rounds:  # curriculum: at most round/rounds of the pool, split by the labeled prior
        assert r["pseudo_labels"] <= min(r["above_threshold"], sum(class_caps(pool, [0.5, 0.5], r["round"] / 3)))
        assert all(n <= -(-pool * r["round"] // 6) for n in r["per_class"].values())
        assert r["mean_confidence"] is None or r["mean_confidence"] >= 0.6


def test_select_balanced_keeps_the_most_confident_above_threshold_within_caps():
    probs = np.array([[0.95, 0.05], [0.9, 0.1], [0.8, 0.2], [0.55, 0.45], [0.3, 0.7], [0.1, 0.9], [0.4, 0.6]])
    rows = select_balanced(probs.argmax(1), probs.max(1), threshold=0.7, per_class=[2, 5])
    assert rows.tolist() == [0, 1, 5, 4]  # class 0: capped at its 2 surest; class 1: 0.6 is below 0.7
    assert (probs[rows].max(1) >= 0.7).all()
    assert select_balanced(probs.argmax(1), probs.max(1), threshold=0.99, per_class=[5, 5]).size == 0
    assert class_caps(100, [0.25, 0.75], 0.5) == [13, 38]


def test_sharpen_makes_targets_surer_and_keeps_the_argmax():
    p = torch.tensor([[0.6, 0.3, 0.1]])
    q = sharpen(p, 0.5)
    assert torch.allclose(q.sum(-1), torch.ones(1)) and q[0, 0] > p[0, 0] and q.argmax() == 0
    assert torch.equal(sharpen(p, 1.0), p)


def test_ema_teacher_follows_the_student():
    torch.manual_seed(0)
    student = torch.nn.Linear(3, 2)
    teacher = EMATeacher(student, decay=0.9)
    before = teacher.model.weight.clone()
    with torch.no_grad():
        student.weight.add_(1.0)
    teacher.update(student)
    assert torch.allclose(teacher.model.weight, 0.9 * before + 0.1 * student.weight)
    assert not teacher.model.weight.requires_grad and teacher.updates == 1


def test_ema_teacher_updates_every_step_in_a_run(toy_config, monkeypatch):
    updates = []
    original = EMATeacher.update
    monkeypatch.setattr(EMATeacher, "update", lambda self, student: (updates.append(1), original(self, student)))
    result = lmtune.train(semi_config(toy_config, METHODS["self-training-ema-soft"], epochs=4), **QUIET)
    assert len(updates) == result.metrics["global_step"] > 0


def _weights(run_dir):
    from safetensors.torch import load_file

    return load_file(str(run_dir / "model.safetensors"))


@pytest.mark.parametrize("method", [{"name": "mlm-aux", "alpha": 0.0}, {"name": "self-training", "alpha": 0.0},
                                    {"name": "consistency", "alpha": 0.0, "augment": "none", "tsa": "none"}])
def test_alpha_zero_is_supervised_training_exactly(toy_config, tmp_path, method):
    # (tsa anneals the labeled loss itself, so it is off here: consistency turns it on by default)
    import copy

    runs = {}
    for name, spec in (("supervised", {"name": "supervised"}), ("semi", method)):
        raw = copy.deepcopy(toy_config)
        raw["output_dir"] = str(tmp_path / name)
        runs[name] = lmtune.train(semi_config(raw, spec, epochs=3), **QUIET)
    a, b = _weights(runs["supervised"].run_dir), _weights(runs["semi"].run_dir)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_method_without_unlabeled_text_fails_clearly(toy_config):
    toy_config["method"] = {"name": "self-training"}
    with pytest.raises(ConfigError, match="learns from unlabeled text") as err:
        lmtune.train(validate_config(toy_config), **QUIET)
    assert "data.unlabeled" in str(err.value.fix)


def test_unlabeled_text_from_a_file_with_a_cap(toy_config, tmp_path):
    from conftest import sentiment_rows

    corpus = tmp_path / "raw.txt"
    corpus.write_text("".join(r["text"] + "\n" for r in sentiment_rows(30, seed=9)), encoding="utf-8")
    toy_config["data"].update(unlabeled=str(corpus), max_unlabeled=25)
    toy_config["method"] = {"name": "fixmatch", "augment": "swap"}
    toy_config["training"].update(epochs=1)
    result = lmtune.train(validate_config(toy_config), **QUIET)
    assert result.data.summary()["unlabeled"] == 25


def test_semi_supervised_composes_with_lora_and_an_attack(toy_config):
    toy_config["peft"] = {"method": "lora", "r": 4}
    toy_config["adversarial"] = {"name": "fgm"}
    recorder = Recorder()
    lmtune.train(semi_config(toy_config, {"name": "mlm-aux"}, epochs=2), callbacks=[recorder], **QUIET)
    assert recorder.series("unlabeled_loss") and recorder.series("adversarial_loss")


def test_bad_method_option_fails_before_training(toy_config):
    toy_config["method"] = {"name": "self-training", "treshold": 0.9}
    with pytest.raises(ConfigError, match="threshold"):
        validate_config(toy_config)


def test_distribution_alignment_pulls_skewed_predictions_to_the_labeled_prior():
    import torch

    from lmtune.methods.consistency import Consistency

    method = Consistency(Consistency.Config(align_momentum=0.0), task=None)
    method.prior, method.running = torch.tensor([0.5, 0.5]), None
    collapsed = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4]])  # all predicted class 0
    aligned = method.aligned(collapsed)
    assert torch.allclose(aligned.sum(-1), torch.ones(4))
    assert aligned.mean(0)[1] > collapsed.mean(0)[1] and (aligned.argmax(-1) == 1).any()  # the minority class returns
    balanced = torch.tensor([[0.9, 0.1], [0.1, 0.9]])
    method.running = None
    assert torch.allclose(method.aligned(balanced), balanced)  # a prediction already at the prior is left alone


def test_seeded_kmeans_recovers_clusters_from_one_example_each_and_measures_agreement():
    from lmtune.methods.self_training.clusters import seeded_kmeans

    rng = np.random.default_rng(0)
    centres = np.eye(3, 16) * 4
    truth = rng.integers(0, 3, 300)
    points = centres[truth] + rng.normal(size=(300, 16))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    seeds = np.array([np.flatnonzero(truth == c)[0] for c in range(3)])
    found = seeded_kmeans(points, points[seeds], truth[seeds], 3)
    assert (found.probs.argmax(1) == truth).mean() > 0.97 and found.agreement == 1.0
    assert np.allclose(found.probs.sum(1), 1) and 1 < found.iterations < 50
    assert np.allclose(np.linalg.norm(found.centroids, axis=1), 1) and found.centroids.shape == (3, points.shape[1])
    # labels that cut across the clusters: the labeled examples lie in other classes' clusters
    crossing = np.concatenate([np.flatnonzero(truth == c)[:4] for c in range(3)])
    shuffled = np.array([0, 1, 2, 0] * 3)
    assert seeded_kmeans(points, points[crossing], shuffled, 3).agreement < 0.8
    # full agreement from one example per class is weak evidence with 2 classes, strong with 5
    assert found.chance == pytest.approx(1 / 27)
    two = seeded_kmeans(points[truth < 2], points[seeds[:2]], truth[seeds[:2]], 2)
    assert two.agreement == 1.0 and two.chance == pytest.approx(0.25)


def test_bootstrap_is_refused_when_the_agreement_could_be_chance():
    from lmtune.methods.self_training.clusters import ClusterLabels, bootstrap_problem

    def found(agreement, chance):
        return ClusterLabels(np.zeros((1, 2)), agreement, 1, np.zeros((2, 4)), chance)

    assert bootstrap_problem(found(1.0, 0.0067)) is None
    assert "does not separate" in bootstrap_problem(found(0.5, 0.5))
    assert "25% of the time" in bootstrap_problem(found(1.0, 0.25))


def two_noisy_views(n=600, classes=3, noise=3.0, seed=0):
    """Two views of the same classes, each with its own noise: a point near another class's
    centre in one view is usually not in the other."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, n)
    views = []
    for _ in range(2):
        points = np.eye(classes, 16)[truth] * 2 + rng.normal(scale=noise / 4, size=(n, 16))
        views.append(points / np.linalg.norm(points, axis=1, keepdims=True))
    seeds = np.array([np.flatnonzero(truth == c)[0] for c in range(classes)])
    return truth, views, seeds


def test_bootstrap_over_two_views_labels_the_pool_better_than_either_view_alone():
    from lmtune.methods.self_training.clusters import bootstrap_labels

    truth, (a, b), seeds = two_noisy_views()
    split = {"a": (a[seeds], a), "b": (b[seeds], b)}
    both = bootstrap_labels(split, truth[seeds], 3)
    alone = [bootstrap_labels({name: split[name]}, truth[seeds], 3) for name in split]
    accuracy = [(r.probs.argmax(1) == truth).mean() for r in [both, *alone]]
    assert accuracy[0] > max(accuracy[1:]) + 0.02 and min(accuracy[1:]) > 0.9  # 99% vs 96% and 94%
    assert both.used == ["a", "b"] and 0.5 < both.agree < 1 and both.problems == {}
    assert np.allclose(both.probs.sum(1), 1)
    assert (both.predict({"a": a, "b": b}).astype(np.float32) == both.probs).all()  # what scores other texts labels the pool too
    # a view whose clusters cut across the classes refuses the bootstrap, with the reason
    unrelated = np.random.default_rng(2).normal(size=a.shape)  # agreement 67%
    unrelated /= np.linalg.norm(unrelated, axis=1, keepdims=True)
    four = np.concatenate([np.flatnonzero(truth == c)[:4] for c in range(3)])
    one = bootstrap_labels({"a": (a[four], a), "noise": (unrelated[four], unrelated)}, truth[four], 3)
    assert one.used == [] and one.probs is None and list(one.problems) == ["noise"]
    assert "does not separate" in one.problems["noise"]
    assert np.allclose(alone[0].probs, alone[0].found["a"].probs, atol=1e-6)  # one view: its own clusters
    # a view that could not be built (no words repeat) refuses it too
    missing = bootstrap_labels({"a": split["a"], "lexical": None}, truth[seeds], 3)
    assert missing.used == [] and missing.probs is None and "could not be built" in missing.problems["lexical"]


def test_descriptions_label_the_pool_and_the_classifier_over_views_improves_on_zero_shot():
    from lmtune.methods.self_training.descriptions import description_labels

    truth, (a, b), _ = two_noisy_views(noise=4.0)
    four = np.concatenate([np.flatnonzero(truth == c)[:4] for c in range(3)])
    descriptions = np.eye(3, 16)  # each class's direction, as a description's embedding would be
    found = description_labels({"embedding": (a[four], a), "lexical": (b[four], b)}, descriptions, truth[four], 3)
    zero_shot = (found.found["descriptions"].probs.argmax(1) == truth).mean()
    assert found.problems == {} and found.used == ["descriptions"] and found.inputs == ["embedding", "lexical"]
    assert (found.probs.argmax(1) == truth).mean() > zero_shot + 0.03 and zero_shot > 0.8  # 95% vs 88%
    assert np.allclose(found.probs.sum(1), 1) and found.found["descriptions"].agreement > 0.5
    assert (found.predict({"embedding": a, "lexical": b}).astype(np.float32) == found.probs).all()
    # a view that could not be built is left out; the embedding view alone labels the pool
    alone = description_labels({"embedding": (a[four], a), "lexical": None}, descriptions, truth[four], 3)
    assert alone.inputs == ["embedding"] and (alone.probs.argmax(1) == truth).mean() > 0.8
    # descriptions in the wrong order: the labeled examples disagree more than chance would, refused
    swapped = description_labels({"embedding": (a[four], a)}, descriptions[[1, 2, 0]], truth[four], 3)
    assert swapped.probs is None and swapped.inputs == [] and "fewer than chance" in swapped.problems["descriptions"]


@pytest.mark.parametrize("agreed, refused", [(2, False), (1, True), (0, True)])
def test_descriptions_are_refused_only_when_the_labeled_examples_disagree_beyond_chance(agreed, refused):
    """Two classes, 8 labeled examples: 2 of 8 nearest their own description happens by chance
    in 14% of samples, so the descriptions stand; 1 of 8 (3.5%) or 0 of 8 (0.4%) refuses them."""
    from lmtune.methods.self_training.descriptions import description_labels, disagreement_problem

    truth, (a, _), _ = two_noisy_views(classes=2, noise=2.0)
    classes = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    # the first `agreed` examples (of both classes in turn) at their own class's direction, the rest at the other's
    disagreeing = np.array([0, 4, 1, 5, 2, 6, 3, 7])[agreed:]
    toward = classes.copy()
    toward[disagreeing] = 1 - classes[disagreeing]
    labeled = np.eye(2, 16)[toward]
    found = description_labels({"embedding": (labeled, a)}, np.eye(2, 16), classes, 2)
    assert found.found["descriptions"].agreement == agreed / 8
    assert (found.probs is None) == refused and (disagreement_problem(agreed, 8, 2) is not None) == refused
    if refused:
        assert f"only {agreed} of the 8 labeled examples" in found.problems["descriptions"]
    else:  # the pool is labeled from the descriptions, which are right, despite the unlucky examples
        assert (found.probs.argmax(1) == truth).mean() > 0.8


def test_descriptions_label_a_class_that_has_no_labeled_example():
    """data.labeled_size can leave a class out: its description still names it, and the
    classifier's probabilities keep a column for every class."""
    from lmtune.methods.self_training.clusters import seeded_kmeans
    from lmtune.methods.self_training.descriptions import description_labels

    truth, (a, b), _ = two_noisy_views(noise=4.0)
    four = np.concatenate([np.flatnonzero(truth == c)[:4] for c in (0, 1)])  # no example of class 2
    found = description_labels({"embedding": (a[four], a), "lexical": (b[four], b)}, np.eye(3, 16), truth[four], 3)
    assert found.probs.shape == (len(truth), 3) and np.allclose(found.probs.sum(1), 1)
    named = found.probs.argmax(1) == 2
    assert (truth[named] == 2).mean() > 0.85 and named[truth == 2].mean() > 0.85  # class 2 found and mostly right
    with pytest.raises(ValueError, match="only 2 classes have one"):  # k-means has nothing to start class 2 from
        seeded_kmeans(a, a[four], truth[four], 3)


def test_label_prior_counts_a_class_without_labeled_examples_as_one():
    from types import SimpleNamespace

    from lmtune.methods.pseudo_labels import label_prior

    examples = SimpleNamespace(features=[{"labels": c} for c in (0, 0, 0, 1, 1, 1)])
    assert label_prior(examples, 2) == [0.5, 0.5]
    assert label_prior(examples, 3) == pytest.approx([3 / 7, 3 / 7, 1 / 7])  # class 2: some pseudo labels allowed
    assert class_caps(70, label_prior(examples, 3), 1.0)[2] == 10


@pytest.mark.parametrize("bootstrap", ["clusters", "descriptions"])
def test_a_class_left_without_labels_is_warned_about_and_the_clusters_step_aside(toy_config, bootstrap):
    toy_config["data"]["labeled_size"] = 1  # one labeled example: one of the two classes has none
    toy_config["method"] = {"name": "self-training", "rounds": 0, "threshold": 0.0, "bootstrap": bootstrap,
                            **({"label_descriptions": {"pos": "a good one", "neg": "a bad one"}}
                               if bootstrap == "descriptions" else {})}
    toy_config["training"].update(epochs=2, batch_size=4)
    messages = []
    result = lmtune.train(validate_config(toy_config), progress=False, log=messages.append)
    assert any(m.startswith("warning:") and "data.labeled_size=1 left no labeled example of" in m for m in messages)
    first = art.read_json(result.run_dir / art.RUN_FILE)["pseudo_label_rounds"][0]
    if bootstrap == "clusters":  # refused before the embedding pass, with the reason; the model labels once
        assert first == {"round": 0, "source": "clusters", "views": [], "used": False}
        assert any("labels: no labeled example of" in m and "to start its cluster from" in m for m in messages)
        assert any("not used (labels above)" in m and "bootstrap: descriptions can label" in m for m in messages)
    else:  # the descriptions label the pool whichever class the labeled example is (a random tiny model: any way)
        assert first["source"] == "descriptions" and "descriptions_agreement" in first


def test_surest_per_class_takes_the_widest_margins_up_to_an_even_share():
    from lmtune.methods.self_training.descriptions import surest_per_class

    scores = np.array([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2], [0.7, 0.3], [0.45, 0.55], [0.2, 0.8]])
    assert sorted(surest_per_class(scores, 2 / 3).tolist()) == [0, 2, 4, 5]  # 2 per class; class 1 has only 2
    assert sorted(surest_per_class(scores, 1 / 3).tolist()) == [0, 5]


def test_lexical_features_need_repeated_words():
    from lmtune.methods.self_training.clusters import lexical_features

    texts = [f"match goal striker {i}" for i in range(6)] + [f"shares market profit {i}" for i in range(6)]
    rows = lexical_features(texts)
    assert rows.shape[0] == 12 and np.allclose(np.linalg.norm(rows, axis=1), 1)
    assert rows[0] @ rows[1] > 0.99 and abs(rows[0] @ rows[7]) < 0.01  # same words together, others apart
    assert lexical_features(["one text", "another text"]) is None  # nothing repeats in under half the texts


@pytest.mark.parametrize("agreement_needed,rounds", [(0.0, 2), (1.01, 2), (0.0, 0), (1.01, 0)])
def test_self_training_bootstrap_labels_the_pool_before_the_first_step_unless_clusters_disagree(
        toy_config, monkeypatch, agreement_needed, rounds):
    from lmtune.methods.self_training import clusters, method

    monkeypatch.setattr(clusters, "MIN_AGREEMENT", agreement_needed)
    monkeypatch.setattr(clusters, "MAX_CHANCE", 1.0)  # a toy run has too few labels to rule chance out
    monkeypatch.setattr(method, "COLLAPSE_DRIFT", 1.0)  # a toy model may call the pool one class: tested in test_auto
    recorder, messages = Recorder(), []
    cfg = semi_config(toy_config, {"name": "self-training", "rounds": rounds, "threshold": 0.0, "bootstrap": "clusters"})
    result = lmtune.train(cfg, callbacks=[recorder], progress=False, log=messages.append)
    history = art.read_json(result.run_dir / art.RUN_FILE)["pseudo_label_rounds"]
    first, used = history[0], agreement_needed == 0.0
    # rounds: 0 keeps the bootstrap's labels for the whole run; refused, the model labels the pool once
    model_rounds = rounds if used or rounds else 1
    assert [r["round"] for r in history] == list(range(model_rounds + 1)) and first["source"] == "clusters"
    assert 0 <= first["embedding_agreement"] <= 1 and 0 <= first["lexical_agreement"] <= 1 and first["iterations"] >= 1
    first_step = next(entry for entry in recorder.logs if "supervised_loss" in entry)  # logged every step
    if used:  # round 1's share of the pool (all of it with rounds: 0), class-balanced, trained on from step 1
        assert 0 < first["pseudo_labels"] <= sum(class_caps(first["pool"], [0.5, 0.5], 1 / max(1, rounds)))
        if rounds == 0:
            assert first["pseudo_labels"] > sum(class_caps(first["pool"], [0.5, 0.5], 1 / 2))
        assert first_step["unlabeled_loss"] >= 0 and first_step["pseudo_labels"] == first["pseudo_labels"]
        assert first["views"] == ["embedding", "lexical"] and 0 <= first["views_agree"] <= 1
        assert any("over the embedding and lexical views, trained where their clusters agree" in m for m in messages)
    else:  # skipped: nothing selected until the model's first round, and the log says why
        assert first["used"] is False and "pseudo_labels" not in first and "unlabeled_loss" not in first_step
        assert first["views"] == [] and sum("does not separate" in m for m in messages) == 2
        assert any("not used (embedding view and lexical view above)" in m and f"labels the pool {model_rounds} time" in m
                   for m in messages)


@pytest.mark.parametrize("order", [[0, 1], [1, 0]])
def test_self_training_bootstrap_from_label_descriptions_in_a_run(toy_config, monkeypatch, order):
    """The descriptions' own embeddings from a random tiny model mean nothing, so the test puts
    each class's labeled centroid in their place (in order: used; swapped: refused)."""
    from lmtune.methods.self_training import descriptions
    from lmtune.methods.self_training import method as self_training

    def centroids_for_descriptions(views, given, classes, n_classes, check=True):
        assert given.shape == (2, views["embedding"][0].shape[1])  # the descriptions were embedded
        rows = np.stack([views["embedding"][0][classes == c].mean(0) for c in order])
        return descriptions.description_labels(views, rows, classes, n_classes, check)

    monkeypatch.setattr(self_training, "description_labels", centroids_for_descriptions)
    messages = []
    cfg = semi_config(toy_config, {"name": "self-training", "rounds": 0, "threshold": 0.0, "bootstrap": "descriptions",
                                   "label_descriptions": {"pos": "a good one", "neg": "a bad one"}})
    result = lmtune.train(cfg, progress=False, log=messages.append)
    history = art.read_json(result.run_dir / art.RUN_FILE)["pseudo_label_rounds"]
    first = history[0]
    assert first["source"] == "descriptions" and "descriptions_agreement" in first
    if order == [0, 1]:
        assert [r["round"] for r in history] == [0] and first["pseudo_labels"] > 0
        assert first["views"] == ["embedding", "lexical"] and first["descriptions_agreement"] >= 0.5
        assert any("trained on the texts nearest each label's description" in m for m in messages)
    else:
        assert [r["round"] for r in history] == [0, 1] and first["used"] is False  # one model round instead
        assert any("fewer than chance" in m for m in messages)
        assert any("label_descriptions can be reworded" in m for m in messages)


@pytest.mark.parametrize("method,match,fix", [
    ({"bootstrap": "descriptions"}, "needs a sentence per label", "label_descriptions: {label: sentence"),
    ({"label_descriptions": {"pos": "good"}}, "read by bootstrap: descriptions only", "set bootstrap: descriptions"),
    ({"bootstrap": "descriptions", "label_descriptions": {"pos": "good", "neg": "bad"},
      "bootstrap_views": ["lexical"]}, "in the embedding view", "keep embedding"),
])
def test_label_description_options_are_checked_at_config_load(toy_config, method, match, fix):
    toy_config["method"] = {"name": "self-training", **method}
    with pytest.raises(ConfigError, match=match) as err:
        validate_config(toy_config)
    assert fix in str(err.value.fix)


def test_label_descriptions_must_name_each_label_once(toy_config):
    toy_config["method"] = {"name": "self-training", "bootstrap": "descriptions",
                            "label_descriptions": {"pos": "good", "negative": "bad"}}
    with pytest.raises(ConfigError, match="no description for 'neg'; not a label: 'negative'") as err:
        lmtune.train(validate_config(toy_config), **QUIET)
    assert "'neg', 'pos'" in str(err.value.fix)


def test_rounds_zero_without_a_bootstrap_is_refused_at_config_load(toy_config):
    toy_config["method"] = {"name": "self-training", "rounds": 0}
    with pytest.raises(ConfigError, match="rounds: 0") as err:
        validate_config(toy_config)
    assert "bootstrap: clusters" in str(err.value.fix)


@pytest.mark.parametrize("bootstrap", ["clusters", "descriptions"])
def test_a_bootstrap_is_refused_for_tagging_at_config_load(toy_config, bootstrap):
    toy_config["task"] = "token-classification"
    toy_config["method"] = {"name": "self-training", "bootstrap": bootstrap,
                            **({"label_descriptions": {"O": "other"}} if bootstrap == "descriptions" else {})}
    with pytest.raises(ConfigError, match=f"bootstrap: {bootstrap}") as err:
        validate_config(toy_config)
    assert "bootstrap: none" in str(err.value.fix)
