"""Generated samples as files that other scoring tools read: a directory of PNG files, or one .npz array.

torch-fidelity (`fidelity --input1 DIR`, `calculate_metrics(input1=DIR)`) and clean-fid (`compute_fid(DIR, ...)`)
read a directory of PNG files, one image each. Neither reads a batch .npz; the convention for one (OpenAI's
guided-diffusion evaluator, and what `np.savez(path, images)` writes) is a single uint8 (N, H, W, C) array under the
key `arr_0`, so that is what is written: `np.load(path)["arr_0"]`. The 2-D mixtures' samples are points, not images:
float32 (N, 2) under the same key, and never a directory.

Images are rounded to 8 bits as the Inception extractor rounds them (metrics.features.to_pixels), so an export
scored with Inception features gives the FID `evaluate` gives; the dataset's own channels are kept (grayscale PNGs
for Fashion-MNIST; torch-fidelity tiles them to RGB itself).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image
from torch import Tensor

from .atomic import atomic_directory
from .data.cache import write_npz_atomically
from .metrics.features import to_pixels

NPZ_SUFFIX = ".npz"
NPZ_KEY = "arr_0"
LABELS_KEY = "labels"
"""A conditional model's .npz export holds each sample's class here (int64 (N,))."""
MIN_NAME_DIGITS = 6  # 000000.png ...: file names sort in sample order, as torch-fidelity and clean-fid sort them


def check_output(out: Path, overwrite: bool, points: bool) -> None:
    """Refuses, before anything is generated, an output that would mix new samples with old files or lose files."""
    if out.suffix == NPZ_SUFFIX:
        if out.is_dir():
            raise ValueError(f"out {out} is a directory; a .npz output must be a file")
        if out.exists() and not overwrite:
            raise ValueError(f"out {out} exists; pass --overwrite to replace it")
        return
    if points:
        raise ValueError(
            f"out {out}: these samples are 2-D points, not images, and cannot be PNG files; give a {NPZ_SUFFIX} path"
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"out {out} is a file; give a directory for PNG files or a {NPZ_SUFFIX} path")
    if not out.exists() and out.suffix:
        raise ValueError(
            f"out {out} ends in {out.suffix!r}; give a directory (a name without a suffix) for PNG files "
            f"or a {NPZ_SUFFIX} path"
        )
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ValueError(f"out {out} is a directory that is not empty; pass --overwrite to replace its contents")


def stored(batch: Tensor, points: bool) -> np.ndarray:
    """Points as float32 (n, 2); images as uint8 (n, H, W, C), the layout image files and their readers use."""
    if points:
        return batch.float().cpu().numpy()
    return to_pixels(batch).permute(0, 2, 3, 1).cpu().numpy()


def write_samples(
    batches: Iterable[Tensor], out: Path, count: int, points: bool = False, labels: Tensor | None = None
) -> None:
    """`count` samples, in order, as PNG files in the directory `out` or one array in the file `out.npz`.

    A conditional model's `labels` (the class of each sample) go into the .npz beside the samples, under LABELS_KEY.
    Either appears whole or not at all: a generator that diverges half-way leaves no output behind.
    """
    arrays = (stored(batch, points) for batch in batches)
    if out.suffix == NPZ_SUFFIX:
        classes = {} if labels is None else {LABELS_KEY: labels.numpy().astype(np.int64)}
        write_npz_atomically(out, {NPZ_KEY: np.concatenate(list(arrays)), **classes})
        return
    width = max(MIN_NAME_DIGITS, len(str(count - 1)))
    with atomic_directory(out) as folder:
        for index, image in enumerate(itertools.chain.from_iterable(arrays)):
            Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(folder / f"{index:0{width}d}.png")
