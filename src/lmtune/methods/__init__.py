"""Method registry: `method: {name: supervised, ...}` in a config names one of these."""
from ..registry import Registry
from .base import Method

METHODS: Registry[Method] = Registry("method")
register_method = METHODS.register
get_method = METHODS.get

from . import supervised  # noqa: E402,F401  (registers itself)

__all__ = ["METHODS", "Method", "get_method", "register_method"]
