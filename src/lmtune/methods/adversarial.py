"""Adversarial training around any method: perturb the input embeddings of the labeled batch in
the direction that raises its loss, and train on that loss too.

`adversarial: {name: fgm | pgd | freelb, epsilon: 1.0, steps: ...}`. The perturbation is added to
the output of the word-embedding layer through a forward hook for one forward call, so the
embedding weights are never written to (nothing to restore) and frozen embeddings (peft,
training.freeze) work the same. Sizes are per token: a perturbation of size epsilon moves each
real token's embedding by epsilon in L2 on average (padding is never perturbed).

One loop serves the three attacks; they differ in a few settings:
- fgm (Miyato et al. 2017): one step of size epsilon along the clean gradient; loss = method + adversarial.
- pgd (Madry et al. 2018): `steps` ascent steps of `step_size`, projected onto the epsilon ball;
  loss = method + adversarial at the last step.
- freelb (Zhu et al. 2020): random start in the ball, `steps` ascent steps; loss = method + the
  mean of the adversarial losses along the way (their parameter gradients accumulate "for free").
  Unlike the paper the method's clean loss is kept, so semi-supervised terms are not dropped.
"""
from __future__ import annotations

import contextlib
import time
from typing import ClassVar

import torch

from ..options import ATTACK_OPTIONS, register_with_options
from ..options.attacks import AttackOptions
from ..registry import Registry
from .base import Method


class Attack:
    """Base class: the settings of the shared ascent loop (options: lmtune.options.attacks)."""

    Config = AttackOptions
    average_steps: ClassVar[bool] = False  # FreeLB: train on every step's loss, from a random start

    def __init__(self, config):
        self.config = config

    @property
    def steps(self) -> int:
        return getattr(self.config, "steps", 1)

    @property
    def step_size(self) -> float:
        """Relative, like epsilon."""
        size = getattr(self.config, "step_size", None)
        return size if size is not None else self.config.epsilon * (1 if self.steps == 1 else 2 / self.steps)

    def passes(self) -> int:
        """Forward passes per training step, the method's own included (the attack's cost)."""
        return 1 + self.steps


ATTACKS: Registry[Attack] = Registry("adversarial attack")
get_attack = ATTACKS.get


def register_attack(name: str):
    """Register an attack class; its `Config` is lmtune.options' ATTACK_OPTIONS[name]."""
    return register_with_options(ATTACKS, ATTACK_OPTIONS, name)


@register_attack("fgm")
class FGM(Attack):
    """One step of size epsilon along the normalised clean gradient."""


@register_attack("pgd")
class PGD(Attack):
    """`steps` ascent steps, projected onto the epsilon ball."""


@register_attack("freelb")
class FreeLB(Attack):
    """Random start, `steps` ascent steps, their losses averaged."""

    average_steps = True


class Adversarial(Method):
    """Wraps a method: its loss, plus the attack's loss on the labeled batch."""

    def __init__(self, inner: Method, attack: Attack):
        self.inner = inner
        super().__init__(inner.config, inner.task)
        self.attack = attack
        self.needs_unlabeled = inner.needs_unlabeled

    # the recipe's and the trainer's questions about the unlabeled side go to the wrapped method
    def setup(self, run):
        super().setup(run)
        self.inner.setup(run)

    def unlabeled_dataset(self, pool):
        return self.inner.unlabeled_dataset(pool)

    def unlabeled_collator(self):
        return self.inner.unlabeled_collator()

    def extra_modules(self):
        return self.inner.extra_modules()

    def callbacks(self):
        return self.inner.callbacks()

    def drawable(self):
        return self.inner.drawable()

    @property
    def history(self):
        return getattr(self.inner, "history", None)

    def loss(self, model, labeled, unlabeled, step):
        started = time.perf_counter()
        embeddings = getattr(model, "module", model).get_input_embeddings()  # through a DDP wrapper
        ids = labeled["input_ids"]
        mask = labeled["attention_mask"].unsqueeze(-1).float() if "attention_mask" in labeled else None
        a = self.attack
        with torch.no_grad():  # sizes are relative to the embeddings' own scale
            scale = float(embeddings.weight.norm(dim=1).mean())
        eps, step_size = a.config.epsilon * scale, a.step_size * scale
        probe = _Perturbation(ids)
        with probe.on(embeddings):  # a zero perturbation on the labeled forward: its gradient is the clean one
            clean, logs, outputs = self.inner.loss(model, labeled, unlabeled, step)

        def forward(delta, grad_needed: bool, keep_graph: bool = False):
            perturbation = _Perturbation(ids, delta.detach().requires_grad_(grad_needed))
            with perturbation.on(embeddings):
                loss = self.inner.supervised_loss(model(**labeled), labeled)
            grad = torch.autograd.grad(loss, perturbation.delta, retain_graph=keep_graph)[0] if grad_needed else None
            return loss, grad

        losses = []
        if a.average_steps:  # FreeLB: every step's loss trains the parameters
            delta = _random_start((*ids.shape, embeddings.embedding_dim), eps, mask, ids.device)
            for k in range(a.steps):
                loss, grad = forward(delta, k < a.steps - 1, keep_graph=True)
                losses.append(loss)
                if grad is not None:
                    delta = _ascend(delta, grad, step_size, eps, mask)
        else:  # FGM / PGD: ascend from the clean point, train on the last perturbation
            if probe.delta is not None:
                grad = torch.autograd.grad(clean, probe.delta, retain_graph=True)[0]
            else:  # the method's forward did not take the labeled ids as they are: one more pass
                grad = forward(torch.zeros((*ids.shape, embeddings.embedding_dim), device=ids.device), True)[1]
            delta = _ascend(torch.zeros_like(grad), grad, step_size, eps, mask)
            for _ in range(a.steps - 1):
                delta = _ascend(delta, forward(delta, True)[1], step_size, eps, mask)
            losses.append(forward(delta, False)[0])
        adversarial_loss = torch.stack(losses).mean()
        logs = {**logs, "clean_loss": round(float(clean.detach()), 4),
                "adversarial_loss": round(float(adversarial_loss.detach()), 4),
                "adversarial_seconds": round(time.perf_counter() - started, 3)}
        return clean + adversarial_loss, logs, outputs


class _Perturbation:
    """Adds `delta` to the word-embedding output of the forward call made on `input_ids` (created
    as zeros requiring grad on first use when not given)."""

    def __init__(self, input_ids: torch.Tensor, delta: torch.Tensor | None = None):
        self.input_ids = input_ids
        self.delta = delta

    def _hook(self, module, inputs, output):
        if not inputs or inputs[0] is not self.input_ids or output.shape[:2] != self.input_ids.shape:
            return output
        if self.delta is None:
            self.delta = torch.zeros_like(output, dtype=torch.float32, requires_grad=True)
        return output + self.delta.to(output.dtype)

    @contextlib.contextmanager
    def on(self, embeddings: torch.nn.Module):
        handle = embeddings.register_forward_hook(self._hook)
        try:
            yield self
        finally:
            handle.remove()


def _token_norm(x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Per-example L2 norm divided by sqrt(real tokens): the average size per token."""
    tokens = mask.sum((1, 2)) if mask is not None else torch.full((x.shape[0],), float(x.shape[1]), device=x.device)
    return (x.flatten(1).norm(dim=1) / tokens.clamp_min(1).sqrt()).view(-1, 1, 1)


def _ascend(delta: torch.Tensor, grad: torch.Tensor, step: float, epsilon: float, mask) -> torch.Tensor:
    """One normalised ascent step, then projection onto the epsilon ball (per token, per example)."""
    grad = grad.float() * mask if mask is not None else grad.float()
    delta = delta + step * grad / _token_norm(grad, mask).clamp_min(1e-12)
    norm = _token_norm(delta, mask)
    return delta * torch.clamp(epsilon / norm.clamp_min(1e-12), max=1.0)


def _random_start(shape, epsilon: float, mask, device) -> torch.Tensor:
    """Uniform noise scaled to a random size inside the epsilon ball, per example."""
    noise = torch.empty(shape, device=device).uniform_(-1, 1)
    noise = noise * mask if mask is not None else noise
    size = epsilon * torch.rand(shape[0], 1, 1, device=device)
    return noise * size / _token_norm(noise, mask).clamp_min(1e-12)
