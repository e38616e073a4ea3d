"""Commands beside LightningCLI's `fit`: the feature extractor, the bias check, scoring and exporting a checkpoint;
the others (demo, sweep, report, analysis, bench, inception-weights) are their modules' own, dispatched by name."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import torch
from jsonargparse import ArgumentParser
from jsonargparse.typing import PositiveInt

from .analysis.literature import BIAS_CHECK, paper_score
from .data import DATASETS, GANDataModule
from .defaults import EVALUATION_BATCH_SIZE, EVALUATION_SAMPLES
from .evaluation.features import SCORE_NOISE_SEED, evaluation_labels, score_key
from .evaluation.standalone import checked_device
from .evaluation.synthetic import generated_batches
from .export import LABELS_KEY, NPZ_KEY, NPZ_SUFFIX, check_output, write_samples
from .metrics.classifier import DOMAIN_DATASETS, train_domain_classifier
from .metrics.extractors import build_extractor, default_extractor_name
from .metrics.inception_weights import inception_weights_command
from .metrics.reference import embed, first_samples, load_or_compute_reference
from .metrics.scores import GenerativeScores
from .runs import CANNOT_START
from .scoring import evaluate_checkpoint, load_gan
from .training.module import DivergedError


def train_classifier_command(arguments: list[str]) -> int:
    parser = ArgumentParser(
        prog="lightning-gans train-classifier",
        description="Train the domain classifier whose features score runs offline (FD, IS and KID in 'domain').",
    )
    parser.add_argument("--data", required=True, type=Literal[tuple(DOMAIN_DATASETS)], help="the labelled dataset")
    parser.add_argument("--data_dir", type=str | None, default=None, help="where the dataset lives (default: lookup)")
    parser.add_argument("--epochs", type=PositiveInt | None, default=None, help="epochs (default: the tested setting)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    options = parser.parse_args(arguments)
    settings = {} if options.epochs is None else {"epochs": options.epochs}
    started = time.perf_counter()
    record = train_domain_classifier(
        options.data, data_dir=options.data_dir, seed=options.seed, device=options.device, **settings
    )
    print(f"{record.describe()} (trained in {time.perf_counter() - started:.0f} s)")
    return 0


def bias_check_command(arguments: list[str]) -> int:
    parser = ArgumentParser(
        prog="lightning-gans bias-check",
        description="The paper's bias check: scores of real train images against real test images "
        "(a perfect generator's floor).",
    )
    parser.add_argument("--data", type=Literal[tuple(DATASETS.names())], default="fashion_mnist")
    parser.add_argument("--extractor", type=Literal["auto", "inception", "domain"], default="auto")
    parser.add_argument("--samples", type=PositiveInt, default=EVALUATION_SAMPLES)
    parser.add_argument("--batch_size", type=PositiveInt, default=EVALUATION_BATCH_SIZE)
    parser.add_argument("--data_dir", type=str | None, default=None)
    parser.add_argument("--inception_weights", type=str | None, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    options = parser.parse_args(arguments)
    name = default_extractor_name(options.inception_weights) if options.extractor == "auto" else options.extractor
    device = torch.device(options.device)
    data = GANDataModule(options.data, data_dir=options.data_dir)
    extractor = build_extractor(
        name, options.data, inception_weights=options.inception_weights, data_dir=options.data_dir, device=device
    )
    reference = load_or_compute_reference(
        data.cache_name, "test", data.split("test"), extractor, options.samples, options.batch_size, device
    )
    train = first_samples(data.split("train"), options.samples, f"the train split of {options.data}")
    started = time.perf_counter()
    features, logits = embed(extractor, train, options.batch_size, device)
    seconds = time.perf_counter() - started
    scores = GenerativeScores(reference, kid_subset_size=min(1000, options.samples))
    scores.update(features, logits)
    results = scores.compute()
    print(
        f"bias check on {options.data}: {options.samples} train vs {options.samples} test images, "
        f"{name} features (weights {extractor.weights_id})"
    )
    for key in ("fd", "kid", "is"):
        spread = f" +- {float(results[key + '_std']):.3g} (std over subsets)" if key == "kid" else ""
        print(f"  {score_key(key, name, options.samples)} = {float(results[key]):.6g}{spread}")
    paper, fd_key = paper_score(BIAS_CHECK, options.data), score_key("fd", name, options.samples)
    if paper is not None:
        verdict = "the same metric" if paper.is_comparable(fd_key) else f"not comparable with {fd_key}"
        print(f"  the paper reports FID {paper.mean} with Inception features ({paper.metric}, {verdict})")
    print(f"  feature extraction: {options.samples / seconds:.0f} images/s on {device}")
    return 0


def evaluate_command(arguments: list[str]) -> int:
    parser = ArgumentParser(
        prog="lightning-gans evaluate",
        description="Score a checkpoint of a run or sweep trial with every metric of the run's evaluation, under the "
        "keys the run logs. Defaults come from the run: the checkpoint, and the config.yaml two folders above it "
        "(<run>/checkpoints/best.ckpt -> <run>/config.yaml); the run's settings reproduce its logged scores.",
    )
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint: <run>/checkpoints/best.ckpt or last.ckpt")
    # Plain types with None defaults (the run's values): a bad value's error then lists the valid ones alone.
    extractors = Literal["auto", "inception", "domain"]
    parser.add_argument("--extractor", type=extractors, default=None, help="default: the run's")
    parser.add_argument("--samples", type=PositiveInt, default=None, help="default: the run's")
    parser.add_argument("--batch_size", type=PositiveInt, default=None, help="default: the run's")
    parser.add_argument(
        "--data",
        type=Literal[tuple(DATASETS.names())],
        default=None,
        help="the dataset; needed only when the checkpoint has no config.yaml beside its run",
    )
    parser.add_argument("--data_dir", type=str | None, default=None, help="default: the run's, else the usual lookup")
    parser.add_argument("--seed", type=int, default=SCORE_NOISE_SEED, help="noise seed; default: every run's")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--output", type=str | None, default=None, help="also write the scores to this .json file")
    options = parser.parse_args(arguments)
    if options.output is not None and Path(options.output).suffix != ".json":
        parser.error(f"--output {options.output} must be a .json file")
    try:
        result = evaluate_checkpoint(
            Path(options.ckpt_path),
            checked_device(options.device),
            dataset=options.data,
            data_dir=options.data_dir,
            seed=options.seed,
            progress=sys.stderr.isatty(),
            extractor=options.extractor,
            samples=options.samples,
            batch_size=options.batch_size,
        )
    except (ValueError, *CANNOT_START) as error:
        parser.error(str(error))
    except DivergedError as divergence:
        print(f"cannot score {options.ckpt_path}: {divergence}", file=sys.stderr)
        return 1
    print("\n".join(result.report()))
    if options.output is not None:
        result.write(Path(options.output))
    return 0


def sample_command(arguments: list[str]) -> int:
    parser = ArgumentParser(
        prog="lightning-gans sample",
        description="Export a checkpoint's samples for other scoring tools: a directory of 8-bit PNG files, one per "
        f"sample in the dataset's channels (what torch-fidelity and clean-fid read), or a .npz file holding one "
        f"uint8 (N, H, W, C) array under the key '{NPZ_KEY}' (np.load(path)['{NPZ_KEY}']; the 2-D mixtures' "
        "points as float32 (N, 2)).",
    )
    parser.add_argument("--ckpt_path", required=True, help="a checkpoint: <run>/checkpoints/best.ckpt or last.ckpt")
    parser.add_argument("--n", type=PositiveInt, required=True, help="how many samples")
    parser.add_argument("--out", required=True, help="a directory (PNG files) or a .npz file")
    parser.add_argument(
        "--seed",
        type=int,
        default=SCORE_NOISE_SEED,
        help="noise seed; the default, with --n the run's evaluation samples, exports the samples the run scores",
    )
    parser.add_argument("--batch_size", type=PositiveInt, default=EVALUATION_BATCH_SIZE)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--overwrite", type=bool, default=False, help="replace an existing .npz or non-empty directory")
    options = parser.parse_args(arguments)
    out = Path(options.out)
    try:
        module = load_gan(Path(options.ckpt_path), checked_device(options.device))
        points = len(module.hparams.sample_shape) == 1
        check_output(out, options.overwrite, points)
    except ValueError as error:
        parser.error(str(error))
    labels = evaluation_labels(options.n, module.hparams.num_classes)
    batches = generated_batches(module, options.n, options.batch_size, options.seed)
    try:
        write_samples(batches, out, options.n, points, labels)
    except DivergedError as divergence:
        print(f"nothing written to {out}: {divergence}", file=sys.stderr)
        return 1
    print(f"{options.n} samples of {options.ckpt_path} (step {module.d_step}, noise seed {options.seed}) in {out}")
    if labels is not None:
        where = f"under '{LABELS_KEY}' in the .npz" if out.suffix == NPZ_SUFFIX else "in file order"
        print(f"conditional: sample i has class i mod {module.hparams.num_classes} ({where})")
    return 0


def sweep_command(arguments: list[str]) -> int:
    from .search.launcher import sweep_command as run_sweep

    return run_sweep(arguments)


def sweep_worker_command(arguments: list[str]) -> int:
    from .search.launcher import sweep_worker_command as run_worker_process

    return run_worker_process(arguments)


def reruns_command(arguments: list[str]) -> int:
    from .search.launcher import reruns_command as run_reruns

    return run_reruns(arguments)


def report_command(arguments: list[str]) -> int:
    from .analysis.report import report_command as print_report

    return print_report(arguments)


def analysis_command(arguments: list[str]) -> int:
    from .analysis.notebooks import analysis_command as run_notebooks

    return run_notebooks(arguments)


def demo_command(arguments: list[str]) -> int:
    from .demo import demo_command as run_demo

    return run_demo(arguments)


def bench_command(arguments: list[str]) -> int:
    from .bench.command import bench_command as run_bench

    return run_bench(arguments)


SUMMARIES = {
    "demo": "a complete small study in minutes: sweeps, reruns, report and analysis (runs/demo, reports/demo)",
    "fit": "train one GAN from a config (LightningCLI: --config, --model.*, --data.*, --trainer.*, ...)",
    "sweep": "the paper's search for one loss: an Optuna study, run by worker processes",
    "reruns": "the best setting of a study re-run over seeds, in a study of its own",
    "report": "each study's summary and the rerun table, in the terminal",
    "analysis": "the analysis notebooks executed into figures, tables and HTML, linked from index.html",
    "evaluate": "score a checkpoint with every metric of its run's evaluation, as the run logged them",
    "sample": "export a checkpoint's samples as PNG files or a .npz array, for torch-fidelity and clean-fid",
    "train-classifier": "train the domain classifier whose features score runs offline",
    "bias-check": "the paper's bias check: real train images scored against real test images",
    "inception-weights": "download the FID Inception weights, verified, to where runs find them",
    "bench": "training, evaluation and sweep throughput, as tables and JSON",
}
"""One line per user command, for `lightning-gans --help` (sweep-worker is the launcher's, not a user's)."""

COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "train-classifier": train_classifier_command,
    "bias-check": bias_check_command,
    "inception-weights": inception_weights_command,
    "evaluate": evaluate_command,
    "sample": sample_command,
    "sweep": sweep_command,
    "sweep-worker": sweep_worker_command,
    "report": report_command,
    "analysis": analysis_command,
    "reruns": reruns_command,
    "bench": bench_command,
    "demo": demo_command,
}
