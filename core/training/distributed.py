"""Rank awareness for torchrun / DDP: PyTorch's own engine, nothing home-made.

`torchrun --nproc-per-node N -m charlm_tui --no-ui train ...` sets RANK, LOCAL_RANK
and WORLD_SIZE; each process trains on its own batches and DDP averages the
gradients. Only rank 0 writes files and prints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.nn as nn


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def from_env() -> DistInfo:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0")), world)


def init(info: DistInfo, device: torch.device) -> None:
    if info.enabled and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)


def wrap(model: nn.Module, info: DistInfo, device: torch.device) -> nn.Module:
    if not info.enabled:
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def agree(values: tuple[float, ...], info: DistInfo, device: torch.device) -> tuple[float, ...]:
    """Rank 0's decisions (stop, finished, paused, steered values) for every rank, in one
    broadcast (float64: exact for every integer below 2^53).

    Only rank 0 reads the control file, and a time budget runs out at slightly different
    moments on each rank: without this, one rank would leave the loop (or wait paused)
    while the others wait for it in the gradient all-reduce until gloo times out.
    """
    if not info.enabled:
        return tuple(values)
    on = device if device.type == "cuda" else torch.device("cpu")
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=on)
    work = dist.broadcast(t, src=0, async_op=True)
    work.wait()
    # Keep the finished work (and its tensor) referenced from Python until the next
    # one. Otherwise gloo's worker thread may drop the last reference and need the GIL
    # to free the tensor just as the main thread, holding the GIL, tears the process
    # group down and waits for that thread: the process never exits (seen in 1 run of
    # 3 after a stop under torchrun). Freed here, in the main thread, it is harmless.
    _last_work[:] = [work]
    return tuple(t.tolist())


_last_work: list[object] = []


def is_peer_failure(info: DistInfo, error: BaseException) -> bool:
    """A collective that failed because another process of the run died or hung (gloo's
    "Connection reset by peer", NCCL's errors): not a bug of this process."""
    if not info.enabled or not isinstance(error, RuntimeError):
        return False
    text = str(error)
    return isinstance(error, dist.DistError) or any(
        mark in text for mark in ("gloo", "NCCL", "Connection reset", "Connection closed")
    )


def shutdown(info: DistInfo, peers_lost: bool = False) -> None:
    """Leave the process group; with peers lost, its teardown could wait for them, so
    the process exits without it (torchrun ends the rest)."""
    if info.enabled and dist.is_initialized() and not peers_lost:
        dist.destroy_process_group()
