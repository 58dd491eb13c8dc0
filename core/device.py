"""Which device and how many threads: one check for `train`, `sample` and `eval`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from charlm_tui.core.config import SPECS
from charlm_tui.core.errors import CharLMError


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


@contextmanager
def denormals_flushed() -> Iterator[bool]:
    """Treat float32 values under 1.2e-38 as zero (the CPU's FTZ and DAZ flags) while a
    run trains; yields False where the CPU has no such mode.

    Training makes such values: the momentum of a ReLU-squared neuron that has stopped
    firing decays by 0.95 a step and falls under 1e-38 after ~1,700 steps, and every
    product touching one takes a microcode assist. Late in a 150-s run of the cpu preset
    a step took 60-68 ms with them flushed against 67-86 ms without (three processes
    each, in turns, 2026-11-26, AVX-512 VM). Enter it before torch's first parallel
    operation: the flags are per thread, and the thread pool copies the caller's when it
    is created; set later, the pool's other threads keep the slow path. On exit the
    calling thread's flags go off (torch cannot read them, so "off" is assumed to be how
    they were): hypothesis, for one, refuses to run with them set. Pool threads made
    during the run keep theirs for the rest of the process: a CLI run ends with it.
    """
    on = torch.set_flush_denormal(True)
    try:
        yield on
    finally:
        if on:
            torch.set_flush_denormal(False)
