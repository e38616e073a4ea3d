"""Packed trials' throughput: trials per hour of K trials trained as one pack, for K = 1, 2, 4, ..., with memory.

K = 1 is the ordinary GAN module (what a sweep without --pack runs); K >= 2 is a PackedGAN of K members of the same
loss, each built under its own seed with the loss's authors' setting. Every measurement runs in a fresh process,
so its memory is its own: what training added to the process's peak (resident memory on a CPU, torch's allocations
on a GPU) once its networks were built and its data loaded. A trial's hour counts training only (evaluations come on
top, the same for every K): trials/hour = K x pack steps/s x 3600 / the dataset's training length.
"""

from __future__ import annotations

import multiprocessing
import resource
import statistics
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

import lightning.pytorch as pl
import torch

from ..data import DATASETS, GANDataModule
from ..data.packs import PackedDataModule
from ..defaults import TRAINER_DEFAULTS
from ..evaluation.standalone import accelerator_arguments, quiet_lightning
from ..quiet import quiet_defaults
from ..training.module import GAN
from ..training.packed_module import PackedGAN
from .training import StepClock, model_arguments

CASES = {"mixtures": ("ring8", "mlp"), "paper": ("fashion_mnist", "infogan")}
"""(dataset, backbone): the 2-D mixtures on the MLP pair, and the paper's network on Fashion-MNIST."""
PACK_SIZES = (1, 2, 4, 8, 16, 32)
TARGETS = {"mixtures": (16, 8.0), "paper": (None, 0.9)}
"""(K, least trials/hour relative to K = 1): the mixtures at K = 16 at least 8x; the paper's network at every K at
least 0.9x (it is compute-bound on a CPU, where packing can only avoid losing)."""


@dataclass(frozen=True)
class PackingSettings:
    case: str
    loss: str
    size: int
    warmup: int
    steps: int
    batch_size: int
    device: str
    threads: int
    seed: int


def build_run(settings: PackingSettings) -> tuple[pl.LightningModule, GANDataModule]:
    """The ordinary GAN for K = 1, else a pack of K members; member k seeded seed + k, as K trials would be."""
    dataset, backbone = CASES[settings.case]
    streams = [
        GANDataModule(dataset, batch_size=settings.batch_size, seed=settings.seed + member)
        for member in range(settings.size)
    ]
    arguments = {**model_arguments(settings.loss, streams[0]), "backbone": backbone}
    arguments["steps"] = settings.warmup + settings.steps
    members = []
    for member in range(settings.size):
        torch.manual_seed(settings.seed + member)
        members.append(GAN(**arguments))
    if settings.size == 1:
        return members[0], streams[0]
    return PackedGAN(members), PackedDataModule.of_members(streams)


def peak_memory(device: torch.device) -> int:
    """The process's peak so far: memory torch allocated on a GPU, resident memory on a CPU (Linux counts KiB)."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device)
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(settings: PackingSettings) -> dict[str, Any]:
    """One timed run, in this (fresh) process: pack D steps per second, and the peak memory training added to what
    the process held with its networks built and its data loaded."""
    quiet_defaults()
    torch.set_num_threads(settings.threads)
    device = torch.device(settings.device)
    module, data = build_run(settings)
    data.split("train")
    before = peak_memory(device)
    step_clock = StepClock(settings.warmup, device)
    with quiet_lightning():
        trainer = pl.Trainer(
            **TRAINER_DEFAULTS,
            **accelerator_arguments(device),
            enable_progress_bar=False,
            enable_model_summary=False,
            logger=False,
            callbacks=[step_clock],
        )
        trainer.fit(module, datamodule=data)
    parameters = sum(p.numel() * p.element_size() for p in module.parameters())
    return {
        "steps_per_second": settings.steps / step_clock.seconds,
        "training_memory_bytes": peak_memory(device) - before,
        "parameter_bytes": parameters,
        "seconds": step_clock.seconds,
    }


def measure_in_fresh_process(settings: PackingSettings) -> dict[str, Any]:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(measure, settings).result()


def benchmark_packing(
    cases: list[str], sizes: list[int], base: PackingSettings, repeats: int, finished: Any
) -> dict[str, Any]:
    """Every case and pack size, `repeats` times in alternating order (ascending, then descending K, ...), so that
    a drift of the machine's speed falls on all sizes alike; medians, with the raw runs beside them."""
    results: dict[str, Any] = {}
    for case in cases:
        dataset = CASES[case][0]
        paper_steps = DATASETS.get(dataset).paper_steps
        runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
        for repeat in range(repeats):
            for size in sizes if repeat % 2 == 0 else sizes[::-1]:
                settings = PackingSettings(**{**asdict(base), "case": case, "size": size})
                runs[size].append(measure_in_fresh_process(settings))
        rows = []
        for size in sizes:
            rate = statistics.median(run["steps_per_second"] for run in runs[size])
            rows.append(
                {
                    "size": size,
                    "steps_per_second": rate,
                    "trials_per_hour": size * rate * 3600 / paper_steps,
                    "training_memory_bytes": max(run["training_memory_bytes"] for run in runs[size]),
                    "parameter_bytes": runs[size][0]["parameter_bytes"],
                    "runs": runs[size],
                }
            )
        single = next((row["trials_per_hour"] for row in rows if row["size"] == 1), None)
        for row in rows:
            row["speedup"] = None if single is None else row["trials_per_hour"] / single
        results[case] = {"dataset": dataset, "backbone": CASES[case][1], "paper_steps": paper_steps, "sizes": rows}
        results[case]["target"] = target_verdict(case, rows)
        finished(case, results[case])
    return {"loss": base.loss, "cases": results}


def target_verdict(case: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Whether the issue's target for this case holds in these rows (None when the rows cannot say)."""
    size, least = TARGETS[case]
    speedups = {row["size"]: row["speedup"] for row in rows if row["speedup"] is not None}
    if size is not None:
        met = speedups[size] >= least if size in speedups else None
        return {"rule": f"K={size} gives >= {least}x the trials/hour of K=1", "met": met}
    packed = [speedup for k, speedup in speedups.items() if k > 1]
    return {
        "rule": f"every K gives >= {least}x the trials/hour of K=1",
        "met": min(packed) >= least if packed else None,
    }
