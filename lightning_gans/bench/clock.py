"""The one clock every benchmark reads, so that GPU timings never stop before the GPU has."""

from __future__ import annotations

import time

import torch


def clock(device: torch.device) -> float:
    """`time.perf_counter()` once the device has finished its queued work.

    CUDA kernels run asynchronously: without the synchronisation a reading would only say when the host had
    finished queueing, and the queued steps would be billed to whatever is timed next.
    """
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()
