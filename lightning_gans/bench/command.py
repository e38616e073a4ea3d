"""`lightning-gans bench`: training, evaluation and sweep throughput as a table and a JSON file.

Every argument is checked before any measurement starts, so a typo costs a usage error (exit status 2), not
minutes of benchmarking that end in one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import torch
from jsonargparse import ArgumentParser, Namespace
from jsonargparse.typing import PositiveInt

from ..data import GANDataModule
from ..defaults import BATCH_SIZE, EVALUATION_BATCH_SIZE, EVALUATION_SAMPLES
from ..evaluation.standalone import checked_device, quiet_lightning
from ..metrics.extractors import EXTRACTORS
from ..training.losses import LOSSES
from .evaluation import EvaluationSettings, time_extractor
from .packing import CASES as PACK_CASES
from .packing import PACK_SIZES, PackingSettings, benchmark_packing
from .report import machine_info, render, write_json
from .sweeps import SweepBenchSettings, sweep_throughput
from .training import CASES, DATASET, TrainingSettings, benchmark_training

PARTS = ("training", "evaluation", "sweeps", "packing")


def names(registry_names: Sequence[str]) -> Any:
    """A list type whose items must be among `registry_names`; jsonargparse names the bad item and the valid ones."""
    return list[Literal[tuple(registry_names)]]


def bench_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="lightning-gans bench",
        description=__doc__.splitlines()[0],
        epilog="Lists are YAML lists: --losses [wgan,ns_gan] --sweep_workers [1,2,4].",
    )
    parser.add_argument("--parts", type=names(PARTS), default=list(PARTS))
    parser.add_argument("--output", type=str, default="reports/bench.json", help="the JSON file")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=PositiveInt, default=torch.get_num_threads(), help="torch CPU threads")
    parser.add_argument("--seed", type=int, default=0)
    training = parser.add_argument_group("training (Lightning module against a plain PyTorch loop)")
    training.add_argument("--losses", type=names(LOSSES.names()), default=LOSSES.names())
    training.add_argument(
        "--cases", type=names(list(CASES)), default=list(CASES), help="datasets, each on its registered backbone"
    )
    training.add_argument(
        "--steps",
        type=PositiveInt | None,
        default=None,
        help="timed D steps per run (default: each case's, " + ", ".join(f"{c} {n}" for c, n in CASES.items()) + ")",
    )
    training.add_argument(
        "--warmup", type=PositiveInt, default=10, help="untimed D steps before them (>= 1: the clock starts after one)"
    )
    training.add_argument("--repeats", type=PositiveInt, default=3, help="runs of each loop per loss (median)")
    training.add_argument("--batch_size", type=PositiveInt, default=BATCH_SIZE)
    evaluation = parser.add_argument_group("evaluation (one evaluation point of a run)")
    evaluation.add_argument(
        "--extractors",
        type=names(EXTRACTORS.names()),
        default=EXTRACTORS.names(),
        help="inception is skipped, with a note, when its weights are not on this machine",
    )
    evaluation.add_argument("--eval_samples", type=PositiveInt, default=EVALUATION_SAMPLES)
    evaluation.add_argument("--eval_batch_size", type=PositiveInt, default=EVALUATION_BATCH_SIZE)
    evaluation.add_argument("--eval_repeats", type=PositiveInt, default=3)
    sweeps = parser.add_argument_group("sweeps (real `lightning-gans sweep` processes)")
    sweeps.add_argument("--sweep_loss", type=Literal[tuple(LOSSES.names())], default="ns_gan")
    sweeps.add_argument("--sweep_trials", type=PositiveInt, default=4)
    sweeps.add_argument("--sweep_steps", type=PositiveInt, default=60, help="D steps per trial")
    sweeps.add_argument("--sweep_eval_samples", type=PositiveInt, default=500)
    sweeps.add_argument("--sweep_workers", type=list[PositiveInt], default=[1, 2], help="worker counts to compare")
    packing = parser.add_argument_group("packing (K trials trained as one pack, each in a fresh process)")
    packing.add_argument("--pack_cases", type=names(list(PACK_CASES)), default=list(PACK_CASES))
    packing.add_argument("--pack_sizes", type=list[PositiveInt], default=list(PACK_SIZES), help="K values to compare")
    packing.add_argument("--pack_loss", type=Literal[tuple(LOSSES.names())], default="ns_gan")
    packing.add_argument("--pack_steps", type=PositiveInt, default=300, help="timed D steps on the mixtures")
    packing.add_argument(
        "--pack_paper_steps", type=PositiveInt, default=10, help="timed D steps on the paper's network (slow on a CPU)"
    )
    packing.add_argument("--pack_repeats", type=PositiveInt, default=1)
    return parser


def print_loss(case: str, loss: str, result: dict[str, Any]) -> None:
    plain, lightning = result["plain"]["d_steps_per_second"], result["lightning"]["d_steps_per_second"]
    ratio = result["ratio"]
    print(f"{case} {loss}: plain {plain:.2f} D steps/s, lightning {lightning:.2f}, ratio {ratio:.3f}", flush=True)


def training_cases(options: Namespace, device: torch.device) -> list[tuple[GANDataModule, TrainingSettings]]:
    """Each requested dataset with its settings: the same for every case but the timed steps, unless given."""
    cases = []
    for case in options.cases:
        steps = options.steps or CASES[case]
        settings = TrainingSettings(
            options.warmup, steps, options.repeats, options.batch_size, device, options.threads, options.seed
        )
        cases.append((GANDataModule(case, batch_size=options.batch_size, seed=options.seed), settings))
    return cases


def run_parts(options: Namespace, device: torch.device) -> dict[str, Any]:
    """The requested parts in order; each result goes into the record under its part's name."""
    record: dict[str, Any] = {}
    data = GANDataModule(DATASET, batch_size=options.batch_size, seed=options.seed)
    if "training" in options.parts:
        record["training"] = benchmark_training(options.losses, training_cases(options, device), print_loss)
    if "evaluation" in options.parts:
        evaluation = EvaluationSettings(
            options.eval_samples, options.eval_batch_size, options.eval_repeats, device, options.seed
        )
        record["evaluation"] = {name: time_extractor(name, data, evaluation) for name in options.extractors}
    if "sweeps" in options.parts:
        sweeps = SweepBenchSettings(
            options.sweep_loss, options.sweep_trials, options.sweep_steps, options.sweep_eval_samples,
            tuple(options.sweep_workers), options.seed,
        )  # fmt: skip
        record["sweeps"] = sweep_throughput(sweeps, data)
    if "packing" in options.parts:
        record["packing"] = run_packing(options, device)
    return record


def run_packing(options: Namespace, device: torch.device) -> dict[str, Any]:
    """Each case with its own step count: a CPU step of the paper's network is ~50 times one of the mixtures'."""
    results: dict[str, Any] = {}
    for case in options.pack_cases:
        steps = options.pack_paper_steps if case == "paper" else options.pack_steps
        base = PackingSettings(
            case, options.pack_loss, 1, options.warmup, steps, options.batch_size, str(device), options.threads,
            options.seed,
        )  # fmt: skip
        record = benchmark_packing([case], sorted(options.pack_sizes), base, options.pack_repeats, print_pack_case)
        results.setdefault("loss", record["loss"])
        results.setdefault("cases", {}).update(record["cases"])
    return results


def print_pack_case(case: str, result: dict[str, Any]) -> None:
    speeds = ", ".join(f"K={row['size']} {row['trials_per_hour']:.1f}" for row in result["sizes"])
    print(f"packing {case}: trials/hour {speeds}", flush=True)


def bench_command(arguments: list[str]) -> int:
    parser = bench_parser()
    options = parser.parse_args(arguments)
    try:
        device = checked_device(options.device)
    except ValueError as error:
        parser.error(str(error))
    torch.set_num_threads(options.threads)
    record: dict[str, Any] = {
        "machine": machine_info(device, options.threads),
        "settings": options.as_dict(),
    }
    with quiet_lightning():
        record.update(run_parts(options, device))
    path = write_json(record, Path(options.output))
    print(render(record))
    print(f"\nwrote {path}")
    return 0
