"""`method.name: auto`: the recipe chosen for the data at hand, from measurements that cost
seconds, before the expensive steps (plan.py). It is not a loss: the finetune recipe resolves it
into one of the other methods before that method is built."""
from .plan import Plan, plan

__all__ = ["Plan", "plan"]
