"""`make demo`: a complete small study, in minutes on a laptop CPU, that leaves every kind of output the project makes.

The paper's search for one loss is 100 trials of 15,625 steps (days on a CPU). The demo runs the same commands a
real study runs (a sweep per loss, reruns of one loss's best setting, `report`, `analysis`), only short: a few
trials of a few hundred steps per loss on Fashion-MNIST, scored in the features of a domain classifier trained
for one quick epoch. Its numbers rank nothing; its files are the real ones: a journal study, trial folders with
metrics, grids and checkpoints, offline W&B runs, the report table, the notebooks' figures, tables and HTML.

Everything it writes is under `--root` (default runs/demo). It scores with the domain classifier real runs use when
there is one; otherwise it trains its quick one into `<root>/cache`, so it never stands in for the real one.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from jsonargparse import ArgumentParser, Namespace
from jsonargparse.typing import PositiveInt

from .analysis.notebooks import analysis_command
from .analysis.report import report_command
from .metrics.classifier import classifier_path, train_domain_classifier
from .search.launcher import reruns_command, sweep_command

DATASET = "fashion_mnist"
CLASSIFIER_IMAGES = 10_000
"""The demo's classifier sees one epoch of this many training images: seconds on a CPU, about 85% test accuracy."""


def demo_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="lightning-gans demo", description=__doc__.splitlines()[0])
    parser.add_argument("--root", default="runs/demo", help="where the study, its runs and its caches go")
    parser.add_argument("--reports", default="reports/demo", help="where the analysis goes")
    parser.add_argument("--losses", type=list[str], default=["ns_gan", "lsgan", "wgan_gp"], help="one sweep each")
    parser.add_argument("--trials", type=PositiveInt, default=3, help="trials per loss (trial 0: the authors')")
    parser.add_argument("--steps", type=PositiveInt, default=120, help="D steps per trial")
    parser.add_argument("--evaluations", type=PositiveInt, default=2, help="evaluation points per trial")
    parser.add_argument("--samples", type=PositiveInt, default=1000, help="samples per evaluation")
    parser.add_argument("--seeds", type=PositiveInt, default=2, help="reruns of the first loss's best setting")
    parser.add_argument("--workers", type=PositiveInt, default=2, help="worker processes")
    parser.add_argument("--notebooks", type=list[str] | None, default=None, help="analysis notebooks (default: all)")
    return parser


def demo_command(arguments: list[str]) -> int:
    options = demo_parser().parse_args(arguments)
    root = Path(options.root).resolve()
    if not classifier_path(DATASET).is_file():  # no classifier of real runs to score with: the demo's own, apart
        os.environ["XDG_CACHE_HOME"] = str(root / "cache")  # for this process and its workers
    storage = str(root / "optuna.journal")
    started = time.perf_counter()
    for name, step in demo_steps(options, root, storage):
        print(f"\n== demo: {name} ==", flush=True)
        if status := step():
            print(f"demo stopped: {name} exited with status {status}")
            return status
    print(f"\ndemo finished in {(time.perf_counter() - started) / 60:.1f} min. Look at:")
    print(f"  {Path(options.reports).resolve() / 'index.html'}  (every figure, table and notebook)")
    print(f"  {root}/sweeps/  (each trial's metrics.csv, samples/, checkpoints/best.ckpt, config.yaml)")
    print(f"  make dashboard STORAGE={storage}")
    return 0


def demo_steps(options: Namespace, root: Path, storage: str) -> list[tuple[str, Callable[[], int]]]:
    """The commands a real study runs, in order, with the demo's short settings."""
    study = ["--dataset", DATASET, "--trials", str(options.trials), "--storage", storage]
    study += ["--workers", str(options.workers), "--run.root", str(root)]
    study += [
        f"--model.steps={options.steps}",
        f"--evaluation.every_n_steps={max(1, options.steps // options.evaluations)}",
        f"--evaluation.samples={options.samples}",
        "--evaluation.extractor=domain",
    ]
    first = options.losses[0]
    notebooks = [] if options.notebooks is None else ["--notebook", f"[{','.join(options.notebooks)}]"]
    return [
        ("domain classifier", quick_classifier),
        *((f"sweep {loss}", partial(sweep_command, ["--loss", loss, *study])) for loss in options.losses),
        (f"reruns of {first}", partial(reruns_command, ["--loss", first, "--seeds", str(options.seeds), *study])),
        ("report", partial(report_command, ["--storage", storage])),
        ("analysis", partial(analysis_command, ["--storage", storage, "--output", options.reports, *notebooks])),
    ]


def quick_classifier() -> int:
    if classifier_path(DATASET).is_file():
        print(f"reusing {classifier_path(DATASET)}")
        return 0
    record = train_domain_classifier(DATASET, epochs=1, train_limit=CLASSIFIER_IMAGES)
    print(f"{record.describe()} (the demo's quick one; real runs train and use the full one)")
    return 0
