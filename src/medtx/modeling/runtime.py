"""Where and how torch runs: random seeds, the device, the numeric precision and autocast."""
from __future__ import annotations

import contextlib
import logging
import random
from typing import Any

import numpy as np
import torch

log = logging.getLogger("medtx.modeling.runtime")


def set_seed(seed: int) -> None:
    """The one place random seeds are fixed (python, numpy, torch incl. CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``cuda`` when available unless told otherwise."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pick_precision(setting: str, device: torch.device) -> str:
    """bf16 on a CUDA device that supports it (``auto``/``bf16``), fp32 otherwise."""
    if setting in ("auto", "bf16") and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return "bf16"
    if setting == "bf16":
        log.info("bf16 requested but %s has no bf16 support here: running in fp32", device)
    return "fp32"


def autocast_for(device: torch.device, precision: str) -> Any:
    """A bf16 autocast context on ``device`` for ``precision == "bf16"``, else a no-op one."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
