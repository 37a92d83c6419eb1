"""Generative SFT on tiny random decoders (GPT-2 and Llama configs): prompt masking, templates,
truncation counts, packing, training end to end, generations and predict."""
from __future__ import annotations

import json
import random

import pytest

from conftest import NEGATIVE, NEUTRAL, POSITIVE, write_jsonl

WORDS = POSITIVE + NEGATIVE + NEUTRAL
SPECIALS = ["<pad>", "<unk>", "<eos>"]
TEMPLATE_WORDS = ["###", "User:", "Assistant:", "System:"]


@pytest.fixture(scope="session")
def decoder_tokenizer(tmp_path_factory):
    """A word-level fast tokenizer (whitespace split) with pad/eos, saved for from_pretrained."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIALS + TEMPLATE_WORDS + WORDS)}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(tokenizer_object=core, pad_token="<pad>", eos_token="<eos>", unk_token="<unk>")
    path = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(path)
    return path


def _decoder(kind: str, tokenizer_path, tmp_path_factory):
    import shutil

    import torch
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    tok = AutoTokenizer.from_pretrained(tokenizer_path)
    path = tmp_path_factory.mktemp(kind)
    torch.manual_seed(0)
    common = dict(vocab_size=len(tok), eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
                  bos_token_id=tok.eos_token_id)
    if kind == "gpt2":
        model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=128, resid_pdrop=0.0,
                                           embd_pdrop=0.0, attn_pdrop=0.0, **common))
    else:
        model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                             num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                                             **common))
    model.save_pretrained(path)
    for f in tokenizer_path.iterdir():
        shutil.copy(f, path / f.name)
    return path


@pytest.fixture(scope="session")
def tiny_gpt2(decoder_tokenizer, tmp_path_factory):
    return _decoder("gpt2", decoder_tokenizer, tmp_path_factory)


@pytest.fixture(scope="session")
def tiny_llama(decoder_tokenizer, tmp_path_factory):
    return _decoder("llama", decoder_tokenizer, tmp_path_factory)


def task(path, max_length=64, **options):
    from transformers import AutoTokenizer

    from lmtune.tasks import get_task

    return get_task("generation")([], AutoTokenizer.from_pretrained(path), max_length, options)


def ex(prompt, response=None):
    from lmtune.data.examples import PromptExample

    return PromptExample((("user", prompt),), response, "t.jsonl:1")


def test_prompt_tokens_are_masked_exactly(tiny_gpt2):
    t = task(tiny_gpt2)
    feature = t.encode([ex("good movie", "bad film")]).features[0]
    tokens = t.tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert tokens == ["###", "User:", "good", "movie", "###", "Assistant:", "bad", "film", "<eos>"]
    assert feature["labels"] == [-100] * 6 + feature["input_ids"][6:]


def test_chat_template_is_used_when_the_tokenizer_has_one(tiny_gpt2):
    t = task(tiny_gpt2)
    t.tokenizer.chat_template = ("{% for m in messages %}### {{ m['role'] | capitalize }}: {{ m['content'] }} "
                                 "{% if m['role'] == 'assistant' %}<eos>{% endif %}{% endfor %}"
                                 "{% if add_generation_prompt %}### Assistant: {% endif %}")
    t = type(t)([], t.tokenizer, 64, {"template": "auto"})
    prompt, response = t.render(ex("good", "bad"))
    assert prompt == "### User: good ### Assistant: " and response == "bad <eos>"
    feature = t.encode([ex("good", "bad")]).features[0]
    assert [x for x in feature["labels"] if x != -100] == t.tokenizer.convert_tokens_to_ids(["bad", "<eos>"])


def test_truncation_cuts_the_prompt_start_first_and_counts_every_cut(tiny_gpt2):
    t = task(tiny_gpt2, max_length=8)
    long_prompt = " ".join(NEUTRAL[:10])
    f = t.encode([ex(long_prompt, "good bad")]).features[0]
    assert len(f["input_ids"]) == 8 and t.tokenizer.convert_ids_to_tokens(f["input_ids"])[-3:] == ["good", "bad", "<eos>"]
    assert sum(x != -100 for x in f["labels"]) == 3  # the whole response is kept
    t.encode([ex("good", " ".join(WORDS[:12]))])
    assert t.truncated == {"prompt": 1, "response": 1}
    assert any("response of 13 tokens cut to 7" in w for w in t.warnings)
    assert [w for w in t.warnings if "of 1 prompts" in w] == [
        "1 of 1 prompts lost their start and 0 responses were cut to fit model.max_length=8",
        "0 of 1 prompts lost their start and 1 responses were cut to fit model.max_length=8"]
    t.response_loss(__import__("transformers").AutoModelForCausalLM.from_pretrained(tiny_gpt2),
                    [ex(long_prompt, "good bad")], batch_size=4, progress=False, desc="dev")
    assert t.truncated == {"prompt": 1, "response": 1}  # scoring an encoded split again counts nothing twice


def test_packing_joins_whole_examples_up_to_max_length(tiny_gpt2):
    t = task(tiny_gpt2, max_length=20)
    data = t.encode([ex("good", "bad"), ex("nice", "sad"), ex("the movie was", "great")])
    lengths = [len(f["input_ids"]) for f in data.features]
    packed = t.pack(data).features
    assert [len(b["input_ids"]) for b in packed] == [lengths[0] + lengths[1], lengths[2]]
    assert packed[0]["labels"] == data.features[0]["labels"] + data.features[1]["labels"]


def test_exact_match_and_token_f1():
    from lmtune.tasks.generation import exact_match, token_f1

    assert exact_match("The Movie.", "movie") == 1.0 and exact_match("good", "bad") == 0.0
    assert token_f1("good bad film", "good film") == pytest.approx(0.8)


def copy_rows(n, seed):
    """Answer "good" or "bad" after the sentiment word among neutral ones: learnable by a tiny decoder."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        answer, words = rng.choice((("good", POSITIVE), ("bad", NEGATIVE)))
        prompt = rng.sample(NEUTRAL, 2) + [rng.choice(words)]
        rng.shuffle(prompt)
        rows.append({"prompt": " ".join(prompt), "response": answer})
    return rows


@pytest.mark.parametrize("backbone", ["tiny_gpt2", "tiny_llama"])
def test_train_evaluate_predict_end_to_end(backbone, request, tmp_path):
    from lmtune.api import predict
    from lmtune.recipes.finetune import train
    from lmtune.recipes.validation import load_config

    path = request.getfixturevalue(backbone)
    train_file = write_jsonl(tmp_path / "train.jsonl", copy_rows(300, 0))
    test_file = write_jsonl(tmp_path / "test.jsonl", copy_rows(40, 1))
    cfg = load_config(base={"task": "generation", "task_options": {"max_new_tokens": 4, "eval_generations": 40,
                                                                   "packing": False},
                            "data": {"train": str(train_file), "test": str(test_file), "dev_size": 0.1},
                            "model": {"name": str(path), "max_length": 64},
                            "training": {"epochs": 40, "batch_size": 16, "learning_rate": 3e-3, "precision": "fp32",
                                         "early_stopping_patience": None},
                            "output_dir": str(tmp_path / "run")})
    result = train(cfg, progress=False, log=lambda m: None)
    test = result.metrics["test"]
    assert test["perplexity"] < 1.5 and test["exact_match"] > 0.9, test  # untrained: perplexity ~ the vocabulary size
    rows = [json.loads(line) for line in (result.run_dir / "generations.jsonl").read_text().splitlines()]
    assert {r["split"] for r in rows} == {"dev", "test"} and all("generated" in r for r in rows)
    out = predict(result.run_dir, ["good bad sad"], progress=False, quantize="none")
    assert list(out[0]) == ["prompt", "response"] and isinstance(out[0]["response"], str)


def test_lora_on_a_decoder(tiny_llama, tmp_path):
    from lmtune.recipes.finetune import train
    from lmtune.recipes.validation import load_config

    train_file = write_jsonl(tmp_path / "train.jsonl", copy_rows(40, 0))
    cfg = load_config(base={"task": "generation", "task_options": {"eval_generations": 2, "max_new_tokens": 2, "packing": True},
                            "data": {"train": str(train_file), "dev_size": 0, "test_size": 0.2},
                            "model": {"name": str(tiny_llama), "max_length": 32}, "peft": {"method": "lora", "r": 4},
                            "training": {"epochs": 1, "precision": "fp32"}, "output_dir": str(tmp_path / "run")})
    result = train(cfg, progress=False, log=lambda m: None)
    info = json.loads((result.run_dir / "lmtune_run.json").read_text())
    assert info["peft"]["method"] == "lora" and "loss" in result.metrics["test"]


def test_instruction_reader_locates_bad_rows(tmp_path):
    from lmtune.data.instructions import read_instructions

    path = write_jsonl(tmp_path / "i.jsonl", [
        {"prompt": "hi", "response": "hello"},
        {"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
        {"prompt": "no answer"},
        {"messages": [{"role": "robot", "content": "x"}]},
        {"text": "neither"}])
    result = read_instructions(path, on_bad_rows="skip")
    assert [e.messages for e in result.examples] == [(("user", "hi"),), (("user", "a"),)]
    assert result.examples[1].response == "b"
    assert [r.line for r in result.rejects] == [3, 4, 5]
