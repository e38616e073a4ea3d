"""How results look in every figure: one colour, one name and one position per loss, and readable metric labels.

A reader compares figures side by side (distributions, budget curves, reruns, sensitivity), so a loss must keep its
colour and its place in the order everywhere, and a score must always be named with the features and sample count
it was computed with: FD in domain features and FID in Inception features are different numbers, as are scores from
2,000 and 10,000 samples. Colours come from seaborn's colour-blind-safe palette, assigned by the losses' registry
order (with the VAE baseline last), so they never depend on which losses a selection happens to contain. Order and
names come from the registries (each loss's and dataset's `label`): a new loss or dataset needs no edit here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

import pandas as pd
import seaborn as sns

from ..data.datasets import DATASETS
from ..search.studies import CONDITIONAL_SUFFIX
from ..training.losses import LOSSES

LOSS_ORDER: tuple[str, ...] = tuple(LOSSES.names())
"""The losses in the registry's order (the paper's, the VAE baseline last); `loss_rank` puts each loss's conditional
form (a conditional study's loss in the analysis frame) right after it."""
_PALETTE: list[str] = sns.color_palette("colorblind", 10).as_hex()
_LOSS_PALETTE_INDICES = (0, 1, 2, 3, 4, 5, 9, 7)
"""Palette order by registry position, except that the seventh loss (BEGAN) takes sky blue (9) over light pink (6):
too faint on white, and too close to WGAN GP's reddish purple. The eighth (the VAE baseline) is grey."""
# Losses beyond the eighth take spare colours (loss_palette), hence strict=False.
LOSS_COLOURS: dict[str, str] = {
    loss: _PALETTE[index] for loss, index in zip(LOSS_ORDER, _LOSS_PALETTE_INDICES, strict=False)
}
_SPARE_COLOURS: list[str] = [colour for colour in _PALETTE if colour not in LOSS_COLOURS.values()]
"""Palette entries no loss above uses, for losses registered later."""

DATASET_LABELS: dict[str, str] = {name: DATASETS.get(name).label or name for name in DATASETS.names()}
PARAMETER_LABELS: dict[str, str] = {
    "lr": "learning rate",
    "beta1": "Adam β1",
    "n_disc": "discriminator steps per generator step",
    "d_batch_norm": "batch norm in D",
    "clip": "WGAN weight clip",
    "gp_lambda": "gradient penalty λ",
    "began_lambda_k": "BEGAN λ_k",
    "began_gamma": "BEGAN γ",  # noqa: RUF001 (the paper's symbol)
}

SPACE_ORDER: tuple[str, ...] = ("wide", "narrow")
SPACE_MARKERS: dict[str, str] = {"wide": "o", "narrow": "^"}
SPACE_HATCHES: dict[str, str] = {"wide": "", "narrow": "////"}
"""Spaces share a loss's colour, so they differ by marker and box hatching, which also survive grey-scale print."""
OTHER_SPACE_MARKER, OTHER_SPACE_HATCH = "s", "...."

SCORE_LABELS: dict[str, str] = {
    "fd": "FD",
    "fid": "FID",
    "is": "IS",
    "is_std": "IS std",
    "kid": "KID",
    "kid_std": "KID std",
    "seconds": "evaluation seconds",
    "precision": "Precision",
    "recall": "Recall",
    "density": "Density",
    "coverage": "Coverage",
    "f1": "F1",
    "support": "Support",
    "support_lower": "Support, 95% lower bound",
    "duplicates": "Near-duplicate pairs",
    "classes": "Classes covered",
    "class_kl": "Class KL from uniform",
    "modes": "Modes covered",
    "high_quality": "High-quality share",
}
EXTRACTOR_LABELS: dict[str, str] = {
    "inception": "Inception features",
    "domain": "domain features",
    "points": "2-D points",
}
"""Feature extractors; any other name (`polygons`: scores computed on the polygons themselves) is shown as is."""
NOT_FID = "domain FD is not FID: not comparable with the paper's numbers"
"""Said wherever domain FD is shown (the Frechet distance in the domain classifier's features): its scale is its own,
and no published number measures the same thing."""
_METRIC_KEY = re.compile(r"eval/(?P<score>[a-z0-9_]+)_(?P<extractor>[a-z0-9]+)_n(?P<samples>\d+)")

THEME_RC: dict[str, float | str] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9.5,
    "ytick.labelsize": 9.5,
    "legend.fontsize": 9.5,
    "legend.title_fontsize": 10,
    "figure.titlesize": 12,
    "savefig.dpi": 150,
}
"""Point sizes at the saved size: figures are drawn at the width a README shows them, so nothing is scaled down."""


def order_key(order: Sequence[str]) -> Callable[[str], tuple[int, str]]:
    """Sort key: names of `order` in that order, any other name after them, alphabetically."""
    return lambda name: (order.index(name), "") if name in order else (len(order), str(name))


def in_order(names: Iterable[str], order: Sequence[str]) -> list[str]:
    return sorted(set(names), key=order_key(order))


def loss_rank(loss: str) -> tuple[int, str, bool]:
    """Sort key of a loss: LOSS_ORDER, each loss's conditional form right after it (so that the two stand side by
    side), losses this module does not know after them, alphabetically."""
    base = loss.removesuffix(CONDITIONAL_SUFFIX)
    return (*order_key(LOSS_ORDER)(base), base != loss)


def losses_in(frame: pd.DataFrame) -> list[str]:
    """The frame's losses in `loss_rank` order."""
    return sorted(set(frame["loss"].dropna()), key=loss_rank)


def loss_palette(losses: Iterable[str]) -> dict[str, str]:
    """A colour per loss: LOSS_COLOURS for known losses, the palette's spare colours (cycled) for others."""
    unknown = [loss for loss in losses if loss not in LOSS_COLOURS]
    spares = {loss: _SPARE_COLOURS[index % len(_SPARE_COLOURS)] for index, loss in enumerate(unknown)}
    return {**LOSS_COLOURS, **spares}


def loss_label(loss: str) -> str:
    """The registry's label, read when asked, so a loss registered after this module was imported has its own; a
    conditional study's loss is labelled as such ("NS GAN, conditional")."""
    if loss.endswith(CONDITIONAL_SUFFIX):
        return f"{loss_label(loss.removesuffix(CONDITIONAL_SUFFIX))}, conditional"
    return (LOSSES.get(loss).label or loss) if loss in LOSSES else loss


def dataset_label(dataset: str) -> str:
    return (DATASETS.get(dataset).label or dataset) if dataset in DATASETS else dataset


def parameter_label(parameter: str) -> str:
    return PARAMETER_LABELS.get(parameter, parameter)


def space_label(space: str) -> str:
    return f"{space} space"


def parse_metric(key: str) -> tuple[str, str, int]:
    """(score, extractor, samples) of a metric key `eval/{score}_{extractor}_n{samples}`."""
    match = _METRIC_KEY.fullmatch(key)
    if match is None:
        raise ValueError(
            f"cannot read metric key {key!r}: expected eval/{{score}}_{{extractor}}_n{{samples}}, "
            "e.g. eval/fd_domain_n2000"
        )
    return match["score"], match["extractor"], int(match["samples"])


def metric_label(key: str) -> str:
    """E.g. 'eval/fid_inception_n10000' -> 'FID (Inception features, 10,000 samples)'."""
    score, extractor, samples = parse_metric(key)
    name = SCORE_LABELS.get(score, score.replace("_", " "))
    return f"{name} ({EXTRACTOR_LABELS.get(extractor, extractor)}, {samples:,} samples)"


def distance_name(keys: Iterable[str]) -> str:
    """What the Frechet distances under `keys` are called: FID only in Inception features (the literature's number),
    domain FD in the domain classifier's, plain FD when a selection mixes features (each panel then names its own)."""
    extractors = {parse_metric(key)[1] for key in keys}
    if len(extractors) != 1:
        return "FD"
    return {"inception": "FID", "domain": "domain FD"}.get(next(iter(extractors)), "FD")


def is_domain_fd(key: str) -> bool:
    """A Frechet distance in the domain classifier's features: the offline stand-in for FID, on a scale of its own."""
    score, extractor, _ = parse_metric(key)
    return score == "fd" and extractor == "domain"


def distance_title(title: str, keys: Iterable[str]) -> str:
    """A figure's title with `{fd}` named for its scores (`distance_name`), and a line saying that domain FD is not
    FID wherever one of them is, so a figure shown without its axes still cannot pass for the paper's metric."""
    keys = list(keys)
    named = title.format(fd=distance_name(keys))
    note = f"\n({NOT_FID})" if any(is_domain_fd(key) for key in keys) else ""
    return named[:1].upper() + named[1:] + note


def apply_theme() -> None:
    """White grid, colour-blind palette in loss order, 10-11 pt text: readable at the size figures are saved."""
    sns.set_theme(context="paper", style="whitegrid", palette=list(LOSS_COLOURS.values()), rc=THEME_RC)
