"""ONNX export, checked by running ONNX Runtime against PyTorch before it is accepted."""
from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

from ..errors import ModelError
from . import ExportFormat, register_export

TOLERANCE = 1e-4  # max |logit difference| between ONNX Runtime and PyTorch on the check batch


def _runtime():
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("ONNX export needs onnxruntime and onnx, which are not installed",
                         fix="pip install 'lmtune[onnx]' (or: pip install onnx onnxruntime).") from None
    return onnxruntime


class OnnxClassifier:
    """An ONNX Runtime session called like a transformers model: model(**batch).logits."""

    def __init__(self, path: Path, config):
        runtime = _runtime()
        options = runtime.SessionOptions()
        self.session = runtime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.config = config

    def eval(self):
        return self

    def parameters(self):
        return iter(())

    def __call__(self, **batch):
        import torch

        feed = {name: batch[name].cpu().numpy().astype("int64") for name in self.inputs}
        return SimpleNamespace(logits=torch.from_numpy(self.session.run(None, feed)[0]))


@register_export("onnx")
class Onnx(ExportFormat):
    """ONNX graph (fp32) for ONNX Runtime and other runtimes; logits checked against PyTorch."""

    weight_files = ("model.onnx",)

    def write(self, model, out: Path) -> None:
        import numpy as np
        import torch

        _runtime()
        sample = {"input_ids": torch.tensor([[1, 5, 6, 7, 2], [1, 8, 9, 2, 0]]),
                  "attention_mask": torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])}
        if getattr(model.config, "type_vocab_size", 0):
            sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
        sample = {k: v.clamp(max=model.config.vocab_size - 1) for k, v in sample.items()}
        names = list(sample)
        model = model.cpu().eval()
        try:
            with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
                warnings.simplefilter("ignore")  # tracer chatter about python-level shape checks
                torch.onnx.export(model, (), str(out / "model.onnx"), kwargs=sample, input_names=names,
                                  output_names=["logits"], opset_version=17, dynamo=False,
                                  dynamic_axes={**{n: {0: "batch", 1: "sequence"} for n in names}, "logits": {0: "batch"}})
        except Exception as exc:
            raise ModelError(f"{type(model).__name__} could not be exported to ONNX ({type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else ''})",
                             fix="export it as bf16 or int8 instead.") from None
        model.config.save_pretrained(out)
        with torch.no_grad():
            expected = model(**sample).logits.numpy()
        got = OnnxClassifier(out / "model.onnx", model.config)(**sample).logits.numpy()
        diff = float(np.abs(got - expected).max())
        if diff > TOLERANCE:
            raise ModelError(f"ONNX Runtime logits differ from PyTorch by {diff:.2e} (> {TOLERANCE})",
                             fix="export as bf16 or int8, or report this model type as an lmtune issue.")

    def load(self, path: Path):
        import transformers

        return OnnxClassifier(path / "model.onnx", transformers.AutoConfig.from_pretrained(path))
