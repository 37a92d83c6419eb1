"""Self-training: the method (method.py) and the bootstraps that label the pool before the first
step, from the backbone's clusters (clusters.py) or from one sentence per label (descriptions.py)."""
from .method import SelfTraining, bootstrap_share, pseudo_label_rows  # noqa: F401  (registers "self-training")
