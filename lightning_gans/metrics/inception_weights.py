"""`lightning-gans inception-weights`: the FID Inception weights fetched once, to where `--evaluation.extractor auto`
finds them, so that a run never has to download them itself.

The file is torch-fidelity's release of the 2015 TF Inception graph's weights (the ones published FIDs and
torchmetrics use). No installed package records its whole SHA-256; its name ends in the hash's first 8 hex digits
(torch hub's convention), so the download is checked against that prefix, as torch hub's own `check_hash` does.
torch.hub.download_url_to_file writes to a temporary file beside the destination and moves it into place only after
the check passes, so a corrupted or interrupted download leaves nothing behind and replaces nothing.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from pathlib import Path

import torch
from jsonargparse import ArgumentParser
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from .features import weights_id_of
from .inception import INCEPTION_WEIGHTS_ENV_VAR, hub_weight_paths


class WeightsHashError(RuntimeError):
    """The downloaded bytes are not the weights their name promises."""


def default_destination() -> Path:
    """Where `auto` looks first: the file $LIGHTNING_GANS_INCEPTION_WEIGHTS names when set, else the torch hub cache."""
    from_env = os.environ.get(INCEPTION_WEIGHTS_ENV_VAR)
    return Path(from_env) if from_env else hub_weight_paths()[0]


def hash_prefix(url: str) -> str:
    """The SHA-256 prefix the file's name carries (`...-6726825d.pth`); a name without one cannot be checked."""
    match = torch.hub.HASH_REGEX.search(file_name(url))
    if match is None or not match.group(1):
        raise ValueError(f"{url} names no SHA-256 prefix (like '-6726825d.pth'), so its download could not be checked")
    return match.group(1)


def file_name(url: str) -> str:
    return Path(urllib.parse.urlparse(url).path).name


def download_inception_weights(url: str, destination: Path, progress: bool = False) -> bool:
    """Puts the verified file at `destination`; False if a verified copy was there already (nothing downloaded)."""
    expected = hash_prefix(url)
    if destination.is_file() and weights_id_of(destination).startswith(expected):
        return False
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(destination), hash_prefix=expected, progress=progress)
    except RuntimeError as error:  # torch hub's hash mismatch; the partial file is already deleted
        raise WeightsHashError(
            f"refused the download from {url}: {error}. Nothing was written to {destination}: what arrived is not "
            "the FID Inception weights (a truncated or altered file). Try again, or fetch the file by hand."
        ) from error
    return True


def inception_weights_command(arguments: list[str]) -> int:
    parser = ArgumentParser(
        prog="lightning-gans inception-weights",
        description="Download the FID Inception weights (torch-fidelity's release), check their SHA-256 prefix, and "
        "put them where `--evaluation.extractor auto` finds them.",
    )
    parser.add_argument(
        "--output",
        type=str | None,
        default=None,
        help=f"where to put them (default: ${INCEPTION_WEIGHTS_ENV_VAR} if set, else the torch hub cache)",
    )
    parser.add_argument("--url", default=URL_INCEPTION_V3, help="where to fetch them from; its name carries the hash")
    options = parser.parse_args(arguments)
    destination = Path(options.output) if options.output else default_destination()
    try:
        expected = hash_prefix(options.url)
    except ValueError as error:
        parser.error(str(error))
    try:
        downloaded = download_inception_weights(options.url, destination, progress=True)
    except WeightsHashError as error:
        print(error, file=sys.stderr)
        return 1
    except OSError as error:  # no network, no such file, refused connection, HTTP errors
        print(
            f"could not download {options.url} ({error}). Without internet, copy {file_name(options.url)} from a "
            f"machine that has it to {destination}, or anywhere with ${INCEPTION_WEIGHTS_ENV_VAR} pointing at it.",
            file=sys.stderr,
        )
        return 1
    state = "downloaded and verified" if downloaded else "already there, verified"
    print(f"Inception weights {state} (SHA-256 prefix {expected}): {destination}")
    if destination.resolve() != default_destination().resolve():
        print(
            f"  `--evaluation.extractor auto` does not look there: set {INCEPTION_WEIGHTS_ENV_VAR}={destination} "
            f"or pass --evaluation.inception_weights {destination}"
        )
    return 0
