"""Shared by the benchmark scripts: quiet library logging and a header line naming the machine."""
from __future__ import annotations

import os
import time


def quiet_and_describe(extra: str = "") -> str:
    """Silence transformers' per-load chatter; return '# date  CPU ... flags' for the table's top."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers

    from lmtune.device import cpu_capabilities

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    caps = cpu_capabilities()
    flags = " ".join(f"{k}={bool(caps.get(k))}" for k in ("amx_bf16", "avx512_bf16", "avx2"))
    header = f"# {time.strftime('%Y-%m-%d')}  CPU: {caps.get('cpu_name')}  threads: {torch.get_num_threads()}  {flags}"
    return f"{header}  {extra}".rstrip()
