"""Continued pretraining: masking statistics, perplexity on known cases, pretrain -> train, bad corpora."""
from __future__ import annotations

import json

import pytest
import torch

import lmtune
from conftest import NEUTRAL, VOCAB, sentiment_rows, write_csv
from lmtune import artifacts as art
from lmtune.errors import ConfigError, DataError, ModelError
from lmtune.models import load_tokenizer
from lmtune.recipes.validation import validate_config
from lmtune.tasks.language_modeling import LanguageModeling

QUIET = dict(progress=False, log=lambda m: None)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory, tiny_backbone):
    from transformers import GPT2Config, GPT2LMHeadModel

    path = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    GPT2LMHeadModel(GPT2Config(vocab_size=len(VOCAB), n_positions=128, n_embd=32, n_layer=2, n_head=2)).save_pretrained(path)
    tokenizer = load_tokenizer(str(tiny_backbone))
    tokenizer.eos_token = "[SEP]"
    tokenizer.save_pretrained(path)
    return path


def corpus_file(tmp_path, n=200):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(r["text"] for r in sentiment_rows(n // 2, seed=5)) + "\n")
    return path


def test_masking_statistics(tiny_backbone):
    tok = load_tokenizer(str(tiny_backbone))
    texts = [" ".join(NEUTRAL * 3)] * 200
    torch.manual_seed(0)
    lm = LanguageModeling(tok, "mlm", 64, mask_rate=0.15, packing=True)
    data = lm.encode(texts)
    batch = lm.collator()([data[i] for i in range(len(data))])
    original = torch.tensor([f["input_ids"] for f in data.features])
    special = torch.tensor([f["special_tokens_mask"] for f in data.features]).bool()
    chosen = batch["labels"] != -100
    assert not (chosen & special).any(), "a special token was masked"
    assert torch.equal(batch["labels"][chosen], original[chosen])
    rate = chosen.sum().item() / (~special).sum().item()
    assert 0.13 < rate < 0.17, rate
    n = chosen.sum().item()
    as_mask = (batch["input_ids"][chosen] == tok.mask_token_id).sum().item() / n
    unchanged = (batch["input_ids"][chosen] == original[chosen]).sum().item() / n
    assert 0.77 < as_mask < 0.83 and 0.07 < unchanged < 0.13, (as_mask, unchanged)  # rest: random tokens


def test_whole_word_masking_masks_every_piece_of_a_word(tiny_backbone):
    tok = load_tokenizer(str(tiny_backbone))
    assert tok.tokenize("goods") == ["good", "##s"]
    texts = ["goods bads the films goodly"] * 400
    torch.manual_seed(1)
    lm = LanguageModeling(tok, "mlm", 32, whole_word_mask=True, packing=True)
    data = lm.encode(texts)
    batch = lm.collator()([data[i] for i in range(len(data))])
    ids = torch.tensor([f["input_ids"] for f in data.features])
    chosen = batch["labels"] != -100
    cont = torch.tensor([[tok.convert_ids_to_tokens(int(i)).startswith("##") for i in row] for row in ids])
    # a continuation piece is chosen exactly when the piece before it is
    before = torch.zeros_like(chosen)
    before[:, 1:] = chosen[:, :-1]
    assert torch.equal(chosen[cont], before[cont])
    assert chosen[cont].any()


def test_perplexity_of_a_uniform_model_is_the_vocabulary_size(tiny_backbone, tiny_gpt2):
    texts = [" ".join(NEUTRAL[:8])] * 4
    for source, objective in ((tiny_backbone, "mlm"), (tiny_gpt2, "clm")):
        lm = LanguageModeling(load_tokenizer(str(source)), objective, 32, packing=False)
        model, fresh, tied = lm.build_model(str(source))
        out = model.get_output_embeddings()
        with torch.no_grad():  # untie, then zero the output layer: every token equally likely
            out.weight = torch.nn.Parameter(torch.zeros_like(out.weight))
            if getattr(out, "bias", None) is not None:
                out.bias.zero_()
        result = lm.perplexity(model, lm.encode(texts), max_tokens=20)
        assert result["scored_tokens"] == 20
        assert result["perplexity"] == pytest.approx(len(VOCAB), rel=1e-4), objective


def test_packaged_style_encoder_gets_a_tied_head(tiny_backbone):
    lm = LanguageModeling(load_tokenizer(str(tiny_backbone)), "mlm", 32)
    model, fresh, tied = lm.build_model(str(tiny_backbone))  # saved as a bare BertModel: no MLM head
    assert tied and model.get_output_embeddings().weight is model.get_input_embeddings().weight
    assert any(k.startswith("cls.predictions.transform") for k in fresh)
    assert not any(k.endswith("decoder.weight") for k in fresh)


def pretrain_config(backbone, corpus, tmp_path, **pretrain):
    return validate_config({
        "data": {"train": str(corpus), "dev_size": 0.1},
        "model": {"name": str(backbone), "max_length": 32},
        "pretrain": {"eval_tokens": 200, **pretrain},
        "training": {"epochs": 3, "batch_size": 16, "learning_rate": 2e-3, "early_stopping_patience": None},
        "output_dir": str(tmp_path / "pretrained"), "seed": 3,
    })


def test_pretrain_lowers_perplexity_then_train_uses_the_result(tiny_backbone, toy_config, tmp_path):
    result = lmtune.pretrain(pretrain_config(tiny_backbone, corpus_file(tmp_path), tmp_path), **QUIET)
    m = result.metrics
    assert m["objective"] == "mlm" and m["perplexity_after"] < m["perplexity_before"] < 2 * len(VOCAB)
    assert len(m["perplexity_per_evaluation"]) == 4  # before + 3 epochs
    info = json.loads((result.run_dir / art.RUN_FILE).read_text())
    assert info["status"] == "complete" and info["decoder_tied"]
    assert list((result.run_dir / art.TENSORBOARD).rglob("events.out.tfevents*"))
    with pytest.raises(ModelError, match="continued-pretraining run"):
        lmtune.load_run(result.run_dir)

    toy_config["model"]["name"] = str(result.run_dir)
    trained = lmtune.train(validate_config(toy_config), **QUIET)
    assert trained.metrics["test"]["n"] == 30
    record = json.loads((trained.run_dir / art.RUN_FILE).read_text())
    assert record["newly_initialised"] == ["classifier.bias", "classifier.weight"]


def test_causal_pretraining_on_a_decoder(tiny_gpt2, tmp_path):
    result = lmtune.pretrain(pretrain_config(tiny_gpt2, corpus_file(tmp_path), tmp_path, packing=False), **QUIET)
    assert result.metrics["objective"] == "clm"
    assert result.metrics["perplexity_after"] < result.metrics["perplexity_before"]


def test_corpus_from_a_csv_column_and_a_directory(tiny_backbone, tmp_path):
    from lmtune.config import DataConfig
    from lmtune.data.corpus import read_corpus

    write_csv(tmp_path / "c.csv", sentiment_rows(10))
    corpus = read_corpus(DataConfig(train=str(tmp_path / "c.csv"), dev_size=0.2), 3, seed=0)
    assert len(corpus.train) == 16 and len(corpus.held_out) == 4
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"{i}.txt").write_text(f"document {i}\nspans several lines of text\n")
    corpus = read_corpus(DataConfig(train=str(docs), dev_size=0), 3, seed=0)
    assert sorted(corpus.train)[0] == "document 0 spans several lines of text"


@pytest.mark.parametrize("content, message", [
    (b"", "no usable rows"),
    (b"\n\n   \n", "no usable rows"),
    (b"a b\nhi\nok then\n", "all too short"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
])
def test_bad_corpora_give_clear_errors(tiny_backbone, tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    path.write_bytes(content)
    with pytest.raises(DataError, match=message) as err:
        lmtune.pretrain(pretrain_config(tiny_backbone, path, tmp_path), **QUIET)
    assert str(path) in str(err.value)


def test_pretrain_resumes_after_a_kill(tiny_backbone, tmp_path):
    from test_train import Kill

    corpus = corpus_file(tmp_path)
    reference = lmtune.pretrain(pretrain_config(tiny_backbone, corpus, tmp_path / "a"), **QUIET)
    cfg = pretrain_config(tiny_backbone, corpus, tmp_path / "b")
    steps = reference.metrics["global_step"]
    with pytest.raises(KeyboardInterrupt):
        lmtune.pretrain(cfg, callbacks=[Kill(at_step=steps // 3 + 1)], **QUIET)
    resumed = lmtune.pretrain(cfg, resume=True, **QUIET)
    assert resumed.metrics["global_step"] == steps
    assert resumed.metrics["perplexity_after"] == pytest.approx(reference.metrics["perplexity_after"], rel=1e-4)


def test_pretraining_with_lora_leaves_a_full_backbone(tiny_backbone, tmp_path):
    from safetensors.torch import load_file

    cfg = pretrain_config(tiny_backbone, corpus_file(tmp_path), tmp_path)
    cfg.peft = {"method": "lora", "r": 4, "target_modules": ["query", "value"]}
    result = lmtune.pretrain(validate_config(cfg.model_dump()), **QUIET)
    assert result.metrics["perplexity_after"] < result.metrics["perplexity_before"]  # the adapters learned
    assert not (result.run_dir / "adapter_config.json").exists()  # folded in: a plain backbone
    weights = load_file(result.run_dir / "model.safetensors")
    assert not any("lora" in k for k in weights)
    base = load_file(tiny_backbone / "model.safetensors")
    assert not torch.equal(weights["bert.encoder.layer.0.attention.self.query.weight"],
                           base["encoder.layer.0.attention.self.query.weight"])  # LoRA's update is in the weight
    assert torch.equal(weights["bert.encoder.layer.0.attention.self.key.weight"],
                       base["encoder.layer.0.attention.self.key.weight"])  # untargeted: untouched
    cfg.peft = {"method": "prompt-tuning", "num_virtual_tokens": 2}
    with pytest.raises(ConfigError, match="cannot be folded"):
        lmtune.pretrain(validate_config({**cfg.model_dump(), "output_dir": str(tmp_path / "p2")}), **QUIET)
