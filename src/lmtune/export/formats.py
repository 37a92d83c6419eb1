"""PyTorch export formats: bf16 weights, and int8 dynamic quantization of the Linear layers."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

from ..errors import ModelError
from . import ExportFormat, register_export


@register_export("merged")
class Merged(ExportFormat):
    """A peft run's adapters folded into the weights: a plain transformers model (fp32), no peft needed to load."""

    weight_files = ("model.safetensors",)
    needs_adapters = True

    def write(self, model, out: Path) -> None:
        model.save_pretrained(out, safe_serialization=True)  # load_run has merged the adapters already

    def load(self, path: Path):
        import transformers

        return transformers.AutoModelForSequenceClassification.from_pretrained(path)


@register_export("bf16")
class Bf16(ExportFormat):
    """bf16 weights (half the size); loaded in fp32 on CPUs without bf16, where bf16 is slow."""

    weight_files = ("model.safetensors",)

    def write(self, model, out: Path) -> None:
        import copy

        import torch

        copy.deepcopy(model).to(torch.bfloat16).save_pretrained(out, safe_serialization=True)

    def load(self, path: Path):
        import torch
        import transformers

        from ..device import choose_precision

        model = transformers.AutoModelForSequenceClassification.from_pretrained(path)
        return model.float() if choose_precision("auto").precision == "fp32" else model.to(torch.bfloat16)


@register_export("int8")
class Int8(ExportFormat):
    """Linear layers in int8 (dynamic quantization): smaller, faster on CPUs without bf16; embeddings stay fp32."""

    weight_files = ("model_int8.pt",)

    def write(self, model, out: Path) -> None:
        import torch

        from ..artifacts import atomic_write
        from ..evaluation.inference import int8_copy

        if not any(isinstance(m, torch.nn.Linear) for m in model.modules()):
            raise ModelError(f"{type(model).__name__} has no torch.nn.Linear layers to quantize (GPT-2 style "
                             "Conv1D layers are not supported)", fix="export it as bf16 or onnx instead.")
        buffer = io.BytesIO()
        torch.save(int8_copy(model).state_dict(), buffer)
        atomic_write(out / self.weight_files[0], buffer.getvalue())
        model.config.save_pretrained(out)

    def load(self, path: Path):
        import torch
        import transformers

        from ..evaluation.inference import quantize_int8

        config = transformers.AutoConfig.from_pretrained(path)
        model = quantize_int8(transformers.AutoModelForSequenceClassification.from_config(config))
        with warnings.catch_warnings():  # torch's own TypedStorage deprecation inside quantized loading
            warnings.simplefilter("ignore")
            # weights_only: quantized tensors load without unpickling arbitrary objects
            model.load_state_dict(torch.load(path / self.weight_files[0], weights_only=True))
        return model.eval()
