"""The `inception` extractor: the InceptionV3 port behind published FIDs, fed exactly as those numbers were.

The network is torchmetrics' NoTrainInceptionV3 in torch-fidelity's "inception-v3-compat" form (the TF 2015
graph's weights): pool3 gives the 2048 FID/KID features and the fc layer without bias the 1008
`logits_unbiased` IS uses, both from one pass.

Input conversion, where scores quietly drift from the literature:
- The network takes uint8 images. Floats in [0, 1] are ROUNDED to 0..255. torchmetrics' `normalize=True`
  truncates (`(x * 255).byte()`), which shifts every pixel of a continuous generator output down by half a
  level on average and so biases FID for generated images but not for the dataset's (already integral) ones.
- Grayscale images are tiled to three channels, as the TF FID code does.
- The resize to 299x299 defaults to torch-fidelity's TF1-compatible bilinear interpolation (no antialiasing),
  which is what published FIDs were computed with. `antialias=True` (torchmetrics' own default) uses torch's
  antialiased bilinear resize instead: half-pixel centres rather than TF1's grid, and a widened filter when
  shrinking. Scores made with it are a different metric, so its `weights_id` carries a suffix that keeps
  cached reference statistics apart.

Weights are looked up without the network first (explicit path, $LIGHTNING_GANS_INCEPTION_WEIGHTS, the torch
hub cache) and downloaded only when asked, so an offline machine fails at once with instructions.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3
from torchmetrics.image.fid import NoTrainInceptionV3

from lightning_gans.metrics.features import ExtractorUnavailableError, FeatureExtractor, to_pixels, weights_id_of

INCEPTION_WEIGHTS_ENV_VAR = "LIGHTNING_GANS_INCEPTION_WEIGHTS"
# torch-fidelity's download lands under the first name, pytorch-fid's under the second. Both convert the same
# TF graph and carry the same sha256-prefix suffix (so are very likely the same bytes); a file that does not
# load is reported by name.
HUB_WEIGHT_FILES = ("weights-inception-2015-12-05-6726825d.pth", "pt_inception-2015-12-05-6726825d.pth")
FEATURES = "2048"
LOGITS = "logits_unbiased"
ANTIALIAS_SUFFIX = "-antialias"


def hub_weight_paths() -> list[Path]:
    """Where torch hub caches checkpoints (read at call time: $TORCH_HOME and set_dir move it)."""
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    return [checkpoints / name for name in HUB_WEIGHT_FILES]


def find_inception_weights(explicit: str | Path | None = None) -> Path:
    """The weights file to use, without touching the network.

    A path the user named (argument or environment variable) must exist: silently falling back to another
    copy would hide a typo and could score with weights the user did not mean.
    """
    if explicit is not None:
        return _existing(Path(explicit), "the inception weights path")
    from_env = os.environ.get(INCEPTION_WEIGHTS_ENV_VAR)
    if from_env:
        return _existing(Path(from_env), f"${INCEPTION_WEIGHTS_ENV_VAR}")
    for path in hub_weight_paths():
        if path.is_file():
            return path
    raise ExtractorUnavailableError(f"no Inception weights in the torch hub cache. {_how_to_get_weights()}")


def resolve_inception_weights(explicit: str | Path | None = None, *, download: bool = False) -> Path:
    """`find_inception_weights`, then (only if `download`) torch-fidelity's copy fetched into the hub cache."""
    try:
        return find_inception_weights(explicit)
    except ExtractorUnavailableError:
        if explicit is not None or os.environ.get(INCEPTION_WEIGHTS_ENV_VAR) or not download:
            raise
    try:
        # check_hash verifies the file against the sha256 prefix in its name before it is kept.
        torch.hub.load_state_dict_from_url(URL_INCEPTION_V3, progress=False, check_hash=True)
    # Downloads fail in too many ways (URLError, HTTPError, hash RuntimeError, OSError) to list.
    except Exception as exc:
        raise ExtractorUnavailableError(
            f"downloading the Inception weights from {URL_INCEPTION_V3} failed ({type(exc).__name__}: {exc}). "
            f"{_how_to_get_weights()}"
        ) from exc
    return find_inception_weights()


def _existing(path: Path, source: str) -> Path:
    if not path.is_file():
        raise ExtractorUnavailableError(f"{source} {path} is not a file. {_how_to_get_weights()}")
    return path


def _how_to_get_weights() -> str:
    hub = hub_weight_paths()
    return (
        f"To use Inception features, put the weights file {HUB_WEIGHT_FILES[0]} (torch-fidelity's release, also "
        f"fetched by `torchmetrics` FID) at {hub[0]}, or point ${INCEPTION_WEIGHTS_ENV_VAR} or "
        "--evaluation.inception_weights at a copy, or allow the download. Offline alternative: "
        "--evaluation.extractor domain, after `lightning-gans train-classifier --data <dataset>`."
    )


def to_inception_input(images: Tensor) -> Tensor:
    """[0, 1] floats (N, 1 or 3, H, W) -> the uint8 RGB the network was trained on (rounded, gray tiled)."""
    if images.shape[1] not in (1, 3):
        raise ValueError(f"Inception takes 1- or 3-channel images, got {images.shape[1]} channels")
    pixels = to_pixels(images)
    return pixels.expand(-1, 3, -1, -1) if pixels.shape[1] == 1 else pixels


class InceptionExtractor(FeatureExtractor):
    name = "inception"
    num_features = 2048
    num_classes = 1008

    def __init__(self, weights: Path, antialias: bool = False) -> None:
        try:
            network = NoTrainInceptionV3(
                name="inception-v3-compat",
                features_list=[FEATURES, LOGITS],
                feature_extractor_weights_path=str(weights),
                antialias=antialias,
            )
        # A wrong or damaged file fails inside torch.load or load_state_dict in many ways; all mean "not these".
        except Exception as exc:
            raise ExtractorUnavailableError(
                f"{weights} is not a usable Inception weights file ({type(exc).__name__}: {exc}). "
                f"{_how_to_get_weights()}"
            ) from exc
        super().__init__(network)
        self.weights_id = weights_id_of(weights) + (ANTIALIAS_SUFFIX if antialias else "")

    def extract(self, images: Tensor) -> tuple[Tensor, Tensor]:
        features, logits = self.network._torch_fidelity_forward(to_inception_input(images))
        return features, logits


def load_inception_extractor(
    weights: str | Path | None = None, *, antialias: bool = False, download: bool = False
) -> InceptionExtractor:
    return InceptionExtractor(resolve_inception_weights(weights, download=download), antialias=antialias)
