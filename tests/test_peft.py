"""PEFT through the peft library: the right modules get adapters, only adapters and head train,
the run saves adapters + head and reloads (merged) with the same logits, config mistakes fail early."""
from __future__ import annotations

import pytest
import torch

import lmtune
from conftest import VOCAB
from lmtune import artifacts as art
from lmtune.config import PeftSpec
from lmtune.errors import ConfigError
from lmtune.recipes.export import export
from lmtune.recipes.validation import validate_config
from lmtune.training.peft import apply_peft, load_adapter_run

QUIET = dict(progress=False, log=lambda m: None)


def tiny_bert_classifier():
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2,
                                                    num_attention_heads=2, intermediate_size=64, num_labels=3,
                                                    hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))


def tiny_gpt2_classifier():
    from transformers import GPT2Config, GPT2ForSequenceClassification

    torch.manual_seed(0)
    return GPT2ForSequenceClassification(GPT2Config(vocab_size=len(VOCAB), n_positions=64, n_embd=32, n_layer=2,
                                                    n_head=2, num_labels=3, pad_token_id=0))


@pytest.mark.parametrize("build, adapted, head", [
    (tiny_bert_classifier, {"query", "value"}, "classifier"),  # peft's default targets for BERT
    (tiny_gpt2_classifier, {"c_attn"}, "score"),                # ... and for GPT-2
])
def test_lora_lands_on_the_architecture_default_modules_and_the_head_trains(build, adapted, head):
    model = apply_peft(build(), PeftSpec(method="lora", r=4), "SEQ_CLS", total_steps=10, head=[head])
    with_lora = {name.split(".lora_A")[0].rsplit(".", 1)[-1] for name, _ in model.named_modules() if name.endswith("lora_A")}
    assert with_lora == adapted
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n or f"{head}.modules_to_save" in n for n in trainable), sorted(trainable)
    assert any(f"{head}.modules_to_save" in n for n in trainable)


def test_one_step_changes_only_adapters_and_head():
    model = apply_peft(tiny_bert_classifier(), PeftSpec(method="lora", r=4), "SEQ_CLS", total_steps=1,
                       head=["classifier"])
    before = {k: v.clone() for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    batch = {"input_ids": torch.randint(5, len(VOCAB), (4, 8)), "labels": torch.tensor([0, 1, 2, 0])}
    model(**batch).loss.backward()
    optimizer.step()
    changed = {k for k, v in model.state_dict().items() if not torch.equal(v, before[k])}
    assert changed, "nothing trained"
    # lora_A starts random and lora_B at zero: after one step B moves (A gets no gradient through B=0)
    assert all("lora_" in k or "classifier.modules_to_save" in k for k in changed), sorted(changed)
    assert any("lora_B" in k for k in changed) and any("modules_to_save" in k for k in changed)


@pytest.fixture(scope="module")
def lora_run(tiny_backbone, tmp_path_factory):
    from conftest import toy_run_config

    raw = toy_run_config(tiny_backbone, tmp_path_factory.mktemp("lora"), peft={"method": "lora", "r": 8},
                         training={"epochs": 10, "batch_size": 8, "learning_rate": 1e-2, "early_stopping_patience": None})
    return lmtune.train(validate_config(raw), **QUIET)


def test_lora_run_saves_adapters_with_head_and_reloads_with_identical_logits(lora_run, tmp_path):
    run_dir = lora_run.run_dir
    assert (run_dir / "adapter_model.safetensors").is_file() and not (run_dir / "model.safetensors").exists()
    from safetensors.torch import load_file

    saved = load_file(run_dir / "adapter_model.safetensors")
    assert any("classifier" in k for k in saved), "the trained head must be saved with the adapters"
    info = art.read_json(run_dir / art.RUN_FILE)
    assert info["peft"]["method"] == "lora" and info["parameters"]["trainable"] < info["parameters"]["total"] / 5
    assert lora_run.metrics["test"]["accuracy"] > 0.7  # it learned the toy task through the adapters

    texts = [ex.text for ex in lora_run.data.test]
    run = lmtune.load_run(run_dir)
    adapters = load_adapter_run(run_dir, info, "AutoModelForSequenceClassification", merge=False).eval()
    assert type(run.model).__name__ == "BertForSequenceClassification"  # merged on load: no adapter overhead
    enc = run.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        unmerged, merged = adapters(**enc).logits, run.model(**enc).logits
    assert torch.allclose(unmerged, merged, atol=1e-5)

    report = export(run_dir, tmp_path / "merged", "merged")
    assert report["accuracy"]["export"] == report["accuracy"]["original"]
    exported = lmtune.load_run(tmp_path / "merged")
    with torch.no_grad():
        assert torch.allclose(exported.model(**enc).logits, unmerged, atol=1e-5)
    assert (tmp_path / "merged" / "model.safetensors").is_file()


def test_export_merge_cli(lora_run, trained_run, tmp_path, capsys):
    from test_cli import cli

    assert cli("export", str(lora_run.run_dir), "-o", str(tmp_path / "m"), "--merge", "--check-texts", "10") == 0
    assert art.read_json(tmp_path / "m" / art.RUN_FILE)["export"]["format"] == "merged"
    capsys.readouterr()
    assert cli("export", str(trained_run.run_dir), "-o", str(tmp_path / "x"), "--merge") == 2
    assert "no peft adapters" in capsys.readouterr().err
    assert cli("export", str(trained_run.run_dir), "-o", str(tmp_path / "y")) == 2
    assert "--format" in capsys.readouterr().err


def test_adalora_reallocates_its_budget_every_step(toy_config, monkeypatch):
    from peft.tuners.adalora import AdaLoraModel

    calls = []
    original = AdaLoraModel.update_and_allocate
    monkeypatch.setattr(AdaLoraModel, "update_and_allocate", lambda self, step: (calls.append(step), original(self, step)))
    toy_config["peft"] = {"method": "adalora", "init_r": 4, "target_r": 2}
    result = lmtune.train(validate_config(toy_config), **QUIET)
    assert calls == list(range(result.metrics["global_step"]))


@pytest.mark.parametrize("peft, message", [
    ({"method": "lora", "target_modules": ["query", "valu"]}, "did you mean 'value'"),
    ({"method": "lora", "rank": 8}, "did you mean peft.r"),
    ({"method": "lorra"}, "did you mean 'lora'"),
])
def test_peft_mistakes_fail_before_training(toy_config, peft, message):
    toy_config["peft"] = peft
    with pytest.raises(ConfigError, match=message):
        lmtune.train(validate_config(toy_config), **QUIET)


def test_peft_with_freeze_is_refused(toy_config):
    toy_config["peft"] = {"method": "lora"}
    toy_config["training"]["freeze"] = "top-1"
    with pytest.raises(ConfigError, match="leave training.freeze at none"):
        validate_config(toy_config)


@pytest.mark.parametrize("method", ["ia3", "prompt-tuning"])
def test_other_peft_methods_train_and_reload(toy_config, method):
    toy_config["peft"] = {"method": method, **({"num_virtual_tokens": 4} if method == "prompt-tuning" else {})}
    toy_config["training"]["epochs"] = 1
    result = lmtune.train(validate_config(toy_config), **QUIET)
    run = lmtune.load_run(result.run_dir)
    mergeable = method == "ia3"  # folded into the weights on load; prompt tuning keeps its virtual tokens
    assert (type(run.model).__name__ == "BertForSequenceClassification") == mergeable
    metrics = lmtune.evaluate(run, toy_config["data"]["test"], save=False, progress=False)
    assert metrics["n"] == len(result.data.test) == 30
    assert metrics["accuracy"] == pytest.approx(result.metrics["test"]["accuracy"])  # reloaded = trained


def test_layerwise_learning_rates():
    from transformers import TrainingArguments

    from lmtune.methods.supervised import Supervised
    from lmtune.training.trainer import MethodTrainer

    model = tiny_bert_classifier()
    trainer = MethodTrainer(model=model, args=TrainingArguments(output_dir="unused", learning_rate=1.0, weight_decay=0.01,
                                                                use_cpu=True,
                                                                report_to=[]),
                            method=Supervised(Supervised.Config(), None), layer_lr_decay=0.5)
    optimizer = trainer.create_optimizer()
    lr_of = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    named = dict(model.named_parameters())
    assert lr_of[id(named["bert.embeddings.word_embeddings.weight"])] == 0.5 ** 3
    assert lr_of[id(named["bert.encoder.layer.0.attention.self.query.weight"])] == 0.5 ** 2
    assert lr_of[id(named["bert.encoder.layer.1.output.dense.weight"])] == 0.5
    assert lr_of[id(named["classifier.weight"])] == lr_of[id(named["bert.pooler.dense.weight"])] == 1.0
    assert len(lr_of) == sum(1 for _ in model.parameters())  # every parameter in exactly one group
    no_decay = {id(p) for g in optimizer.param_groups if g["weight_decay"] == 0 for p in g["params"]}
    assert id(named["classifier.bias"]) in no_decay and id(named["classifier.weight"]) not in no_decay
