"""Which device and how many threads: one check for `train`, `sample` and `eval`."""

from __future__ import annotations

import os

import torch

from core.config import SPECS
from core.errors import CharLMError


def resolve_device(name: str) -> torch.device:
    """auto, cpu, cuda, cuda:N or mps -> a device this machine has, or a one-line error."""
    SPECS["device"].validate(name)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CharLMError(f"--device {name} was asked for, but torch sees no CUDA GPU")
        index = int(name.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise CharLMError(
                f"--device {name}: this machine has {torch.cuda.device_count()} CUDA GPU(s), "
                f"numbered from 0"
            )
    if name == "mps" and not torch.backends.mps.is_available():
        raise CharLMError("--device mps was asked for, but this machine has no MPS backend")
    return torch.device(name)


def check_threads(threads: int) -> None:
    """More threads than cores only makes them wait for each other (and the kernel)."""
    cores = os.cpu_count() or 1
    if threads > cores:
        raise CharLMError(f"--threads {threads} is more than this machine's {cores} cores")
