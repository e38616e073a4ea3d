"""The defaults several commands share, stated once, below every module that uses them.

`fit`, sweep workers, the bench and the evaluation commands each build a Trainer, score samples or watch trials;
they read these values from here rather than from one another, so no command module imports another to learn a
default (which is how import cycles start).
"""

from __future__ import annotations

TRAINER_DEFAULTS = {
    "max_epochs": -1,
    # The data module shards its step-indexed stream per rank itself; Lightning must not wrap the sampler.
    "use_distributed_sampler": False,
    # Checkpoints are written by EvaluationSchedule, at the paper's evaluation points.
    "enable_checkpointing": False,
    "num_sanity_val_steps": 0,
    "limit_val_batches": 0,
    "log_every_n_steps": 50,
    # cudnn times its convolution algorithms once per shape and keeps the fastest (no effect off CUDA); a GPU run
    # that must be bitwise reproducible sets `benchmark: false` and `deterministic: true` instead.
    "benchmark": True,
}
"""What every Trainer of the project starts from: `fit`'s (LightningCLI's trainer defaults), a sweep trial's, the
bench's."""

BATCH_SIZE = 64
"""The paper's training batch, for every model and dataset."""

EVALUATION_SAMPLES = 10_000
"""Generated samples per evaluation, scored against as many test images (the paper's FID protocol)."""

EVALUATION_BATCH_SIZE = 128
"""Images per generator and extractor pass when scoring. On a CPU, glibc serves allocations over 32 MiB with fresh
mmaps, page-faulted on every pass: at 500 images the domain classifier's first activation is 50 MiB and an
evaluation of 10,000 samples took 6.4 s instead of 4.6 s (`make bench`); at 128 it is 13 MiB. On a GPU, 128
Inception-sized images are already a full batch."""

HEARTBEAT_SECONDS = 10.0
"""How often a sweep worker stamps the trial it is running."""

MAX_ATTEMPTS = 3
"""How many times a sweep trial is tried (a worker that died, an exception) before it stays FAIL; interruptions by a
signal (Ctrl-C, SIGTERM) are not counted."""

GRACE_SECONDS = 60.0
"""Heartbeat age after which a running trial counts as orphaned (its worker died) and is retried."""

AUTO_PACK: dict[tuple[str, str], int] = {("cpu", "mlp"): 16}
"""Trials a sweep worker trains as one pack (`--pack auto`, the default) by (device type, backbone); 1 where nothing
was measured. On this 2-core CPU (docs/performance.md, "Packed trials") the mixtures' MLP gave 4.8x the trials/hour
at K = 16 and 5.2x at K = 32, within noise of each other: 16 keeps packs fine-grained enough that a study of 100
trials spreads over two workers. The paper's network on a CPU gains nothing (compute-bound), and no GPU has been
measured yet. `--pack K` packs on request."""
