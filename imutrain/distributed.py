"""torchrun / single-process helpers. One code path: with WORLD_SIZE unset everything is a no-op."""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as td


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init(device: str | None = None) -> DistInfo:
    """Read torchrun's environment, start the process group (NCCL on GPU, gloo on CPU), pick the device."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    if dev.type == "cuda":
        torch.cuda.set_device(local)
        dev = torch.device("cuda", local)
    if world > 1 and not td.is_initialized():
        backend = "nccl" if dev.type == "cuda" else "gloo"
        td.init_process_group(backend, timeout=datetime.timedelta(minutes=30),
                              device_id=dev if dev.type == "cuda" else None)
    return DistInfo(rank, world, local, dev)


def is_enabled() -> bool:
    return td.is_available() and td.is_initialized() and td.get_world_size() > 1


def rank() -> int:
    return td.get_rank() if is_enabled() else 0


def world_size() -> int:
    return td.get_world_size() if is_enabled() else 1


def barrier() -> None:
    if is_enabled():
        td.barrier()


def shutdown() -> None:
    if td.is_available() and td.is_initialized():
        td.destroy_process_group()


def all_reduce_mean(x: torch.Tensor) -> torch.Tensor:
    if not is_enabled():
        return x
    x = x.clone()
    td.all_reduce(x)
    return x / world_size()


def all_reduce_max(x: torch.Tensor) -> torch.Tensor:
    if not is_enabled():
        return x
    x = x.clone()
    td.all_reduce(x, op=td.ReduceOp.MAX)
    return x


def all_gather_with_local_grad(x: torch.Tensor) -> torch.Tensor:
    """Concatenate ``x`` from every rank (rank order); only this rank's slice carries gradient.

    Every rank must pass the same number of rows (the loader guarantees equal batch sizes).
    """
    if not is_enabled():
        return x
    parts = [torch.empty_like(x) for _ in range(world_size())]
    td.all_gather(parts, x.detach().contiguous())
    parts[rank()] = x
    return torch.cat(parts)


def all_gather_object(obj):
    if not is_enabled():
        return [obj]
    out = [None] * world_size()
    td.all_gather_object(out, obj)
    return out


def broadcast_object(obj, src: int = 0):
    if not is_enabled():
        return obj
    box = [obj]
    td.broadcast_object_list(box, src=src)
    return box[0]
