"""Method registry: `method: {name: supervised, ...}` in a config names one of these."""
from ..options import METHOD_OPTIONS, register_with_options
from ..registry import Registry
from .base import Method

METHODS: Registry[Method] = Registry("method")
get_method = METHODS.get


def register_method(name: str):
    """Register a method class; its `Config` and tasks are lmtune.options' METHOD_OPTIONS[name]."""
    return register_with_options(METHODS, METHOD_OPTIONS, name)


from . import consistency, distill, mlm_aux, self_training, supervised  # noqa: E402,F401  (register themselves)


def with_attack(method: Method, attack_spec) -> Method:
    """`method`, wrapped by the adversarial attack the config names (if any)."""
    if attack_spec is None:
        return method
    from .adversarial import Adversarial, get_attack

    attack_cls = get_attack(attack_spec.name)
    return Adversarial(method, attack_cls(attack_cls.Config.model_validate(attack_spec.options())))


def build_method(cfg, task) -> Method:
    """The config's method with its own options, wrapped by its adversarial attack if any."""
    if cfg.method.name == "auto":
        raise ValueError("method auto is resolved into another method by lmtune.methods.auto.plan before it is built")
    method_cls = get_method(cfg.method.name)
    return with_attack(method_cls(method_cls.Config.model_validate(cfg.method.options()), task), cfg.adversarial)


__all__ = ["METHODS", "Method", "build_method", "get_method", "register_method", "with_attack"]
