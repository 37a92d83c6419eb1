"""Augmenters (also the perturbations of `lmtune eval --perturb`): each changes the text, is
reproducible per seed, and the WordNet ones read a local WordNet or say how to install it."""
from __future__ import annotations

import pytest

import lmtune
from lmtune.data.augment import AUGMENTERS, augment_texts, build_augmenter, wordnet
from lmtune.errors import ConfigError, DataError

TEXTS = ["The film was good and the story was wonderful to watch",
         "A terrible movie with a boring plot and poor acting throughout"]


@pytest.fixture
def tiny_wordnet(tmp_path, monkeypatch):
    """A WordNet database in the real file format with three synsets."""
    header = "  1 This software and database is being provided to you, the LICENSEE, by Princeton University\n"
    (tmp_path / "data.noun").write_text(header + "00001740 03 n 02 film 0 movie 0 000 | a motion picture\n"
                                        "00001741 03 n 02 story 0 tale 0 000 | a narrative\n"
                                        "00001742 03 n 02 plot 0 storyline 0 000 | the plot\n")
    (tmp_path / "data.adj").write_text(header + "00001743 00 a 03 good 0 fine(a) 0 nice 0 000 | good\n")
    (tmp_path / "data.verb").write_text(header)
    (tmp_path / "data.adv").write_text(header)
    monkeypatch.setenv("LMTUNE_WORDNET_DIR", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("name", [n for n in AUGMENTERS.names() if n != "backtranslation"])  # own test: needs models
def test_every_augmenter_changes_text_and_is_reproducible(name, tiny_wordnet):
    augmenter = build_augmenter(name, rate=0.2)
    once, again = augment_texts(TEXTS, augmenter, seed=1), augment_texts(TEXTS, augmenter, seed=1)
    assert once == again
    assert all(new != old and new.strip() for new, old in zip(once, TEXTS))
    assert augment_texts(TEXTS * 5, augmenter, seed=2) != augment_texts(TEXTS * 5, augmenter, seed=1)


def test_word_level_changes_are_what_each_augmenter_says():
    words = TEXTS[0].split()
    deleted = augment_texts(TEXTS, build_augmenter("deletion", rate=0.2), 0)[0].split()
    assert len(deleted) == len(words) - 2 and all(w in words for w in deleted)
    swapped = augment_texts(TEXTS, build_augmenter("swap", rate=0.1), 0)[0].split()
    assert sorted(swapped) == sorted(words) and swapped != words
    typo = augment_texts(TEXTS, build_augmenter("typo", rate=0.1), 0)[0].split()
    changed = [(a, b) for a, b in zip(words, typo) if a != b]
    assert len(typo) == len(words) and len(changed) == 1 and abs(len(changed[0][0]) - len(changed[0][1])) <= 1
    assert augment_texts(["one"], build_augmenter("deletion", rate=1.0), 0) == ["one"]  # never emptied


def test_synonyms_come_from_wordnet_and_skip_function_words(tiny_wordnet):
    out = augment_texts(["The film was good."], build_augmenter("synonym", rate=1.0), 0)[0]
    assert out.startswith("The movie was ") and out.endswith(".") and out.split()[3].rstrip(".") in {"fine", "nice"}
    assert wordnet.synonyms("The") == () and set(wordnet.synonyms("Plot")) == {"storyline"}


def test_missing_wordnet_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("LMTUNE_WORDNET_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="apt install wordnet-base"):
        augment_texts(TEXTS, build_augmenter("synonym"), 0)


def test_unknown_augmenter_names_the_closest():
    with pytest.raises(ConfigError, match="'typo'"):
        build_augmenter("typos")


def test_eval_perturb_scores_perturbed_copies(trained_run, capsys):
    from test_cli import cli

    test_file = trained_run.run_dir / "perturb-test.csv"
    from conftest import write_csv

    write_csv(test_file, [{"text": ex.text, "label": ex.label} for ex in trained_run.data.test])
    metrics = lmtune.evaluate(trained_run.run_dir, test_file, progress=False, save=False, perturb=["typo", "deletion"],
                              perturb_rate=0.3)
    assert set(metrics["perturbed"]) == {"typo", "deletion"}
    for scores in metrics["perturbed"].values():
        assert 0 <= scores["accuracy"] <= 1
        assert scores["accuracy_change"] == pytest.approx(scores["accuracy"] - metrics["accuracy"], abs=1e-4)
    # deleting 30% of the words of 6-word texts removes sentiment words often enough to cost accuracy
    assert metrics["perturbed"]["deletion"]["accuracy"] < metrics["accuracy"]
    assert cli("eval", str(trained_run.run_dir), "--data", str(test_file), "--perturb", "typo,deletion") == 0
    out = capsys.readouterr().out
    assert "robustness" in out and "typo (10% of words)" in out
