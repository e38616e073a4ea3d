"""`lightning-gans inception-weights` over real downloads: a local HTTP server (and a file:// URL) stand in for the
release asset, so the download, the hash check and the placement run as they do online.

The served file is named like the real one, with its own SHA-256 prefix in place of the real weights' (6726825d):
the check reads the prefix from the name, as torch hub does.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3

from lightning_gans.commands import COMMANDS
from lightning_gans.metrics.extractors import default_extractor_name
from lightning_gans.metrics.inception import HUB_WEIGHT_FILES, INCEPTION_WEIGHTS_ENV_VAR, find_inception_weights
from lightning_gans.metrics.inception_weights import file_name, hash_prefix

CONTENT = bytes(range(256)) * 4096
"""1 MiB standing in for the weights: large enough to arrive in several reads."""
PREFIX = hashlib.sha256(CONTENT).hexdigest()[:8]
NAME = f"weights-inception-2015-12-05-{PREFIX}.pth"


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *arguments: object) -> None:
        """Requests are not news in a test log."""


@pytest.fixture
def served(tmp_path, monkeypatch) -> Iterator[tuple[str, Path]]:
    """A folder served over HTTP on localhost (no proxy in between); yields the base URL and the folder."""
    monkeypatch.setenv("no_proxy", "*")
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=folder))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", folder
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def hub_cache(tmp_path, monkeypatch) -> Path:
    """An empty torch hub cache and no weights variable, as on a fresh machine; returns the checkpoint folder."""
    monkeypatch.delenv(INCEPTION_WEIGHTS_ENV_VAR, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return tmp_path / "torch-home" / "hub" / "checkpoints"


def download(*arguments: str) -> int:
    return COMMANDS["inception-weights"](list(arguments))


def test_the_default_url_is_torch_fidelitys_release_named_as_runs_look_for_it():
    assert file_name(URL_INCEPTION_V3) == HUB_WEIGHT_FILES[0]
    assert hash_prefix(URL_INCEPTION_V3) == "6726825d"


@pytest.mark.parametrize("scheme", ["http", "file"])
def test_the_weights_arrive_verified_where_auto_finds_them(served, hub_cache, capsys, scheme):
    base, folder = served
    (folder / NAME).write_bytes(CONTENT)
    url = f"{base}/{NAME}" if scheme == "http" else (folder / NAME).as_uri()
    with pytest.warns(UserWarning, match="falling back to the 'domain' feature extractor"):
        assert default_extractor_name() == "domain"

    assert download("--url", url) == 0
    destination = hub_cache / HUB_WEIGHT_FILES[0]
    assert destination.read_bytes() == CONTENT
    assert sorted(hub_cache.iterdir()) == [destination]  # no partial file beside it
    assert f"downloaded and verified (SHA-256 prefix {PREFIX}): {destination}" in capsys.readouterr().out
    assert find_inception_weights() == destination and default_extractor_name() == "inception"

    (folder / NAME).unlink()  # a second run finds the verified copy and downloads nothing
    assert download("--url", url) == 0
    assert f"already there, verified (SHA-256 prefix {PREFIX}): {destination}" in capsys.readouterr().out


def test_a_corrupted_download_is_refused_and_leaves_nothing_behind(served, hub_cache, capsys):
    base, folder = served
    (folder / NAME).write_bytes(CONTENT[:-1] + b"\x00")  # one byte changed: not the file the name promises
    assert download("--url", f"{base}/{NAME}") == 1
    error = capsys.readouterr().err
    assert f'refused the download from {base}/{NAME}: invalid hash value (expected "{PREFIX}"' in error
    assert f"Nothing was written to {hub_cache / HUB_WEIGHT_FILES[0]}" in error
    assert list(hub_cache.iterdir()) == []


def test_a_corrupted_copy_in_place_is_replaced_by_a_verified_one(served, hub_cache, capsys):
    base, folder = served
    (folder / NAME).write_bytes(CONTENT)
    hub_cache.mkdir(parents=True)
    (hub_cache / HUB_WEIGHT_FILES[0]).write_bytes(b"truncated")
    assert download("--url", f"{base}/{NAME}") == 0
    assert (hub_cache / HUB_WEIGHT_FILES[0]).read_bytes() == CONTENT
    assert "downloaded and verified" in capsys.readouterr().out


def test_the_weights_variable_and_output_choose_where_they_go(served, hub_cache, tmp_path, monkeypatch, capsys):
    base, folder = served
    (folder / NAME).write_bytes(CONTENT)
    chosen = tmp_path / "weights" / "inception.pth"
    monkeypatch.setenv(INCEPTION_WEIGHTS_ENV_VAR, str(chosen))
    assert download("--url", f"{base}/{NAME}") == 0  # where the variable points, which is where runs then look
    assert chosen.read_bytes() == CONTENT and find_inception_weights() == chosen
    assert "does not look there" not in capsys.readouterr().out

    elsewhere = tmp_path / "elsewhere.pth"
    assert download("--url", f"{base}/{NAME}", "--output", str(elsewhere)) == 0
    assert elsewhere.read_bytes() == CONTENT
    out = capsys.readouterr().out
    assert f"does not look there: set {INCEPTION_WEIGHTS_ENV_VAR}={elsewhere} or pass" in out
    assert not hub_cache.exists()


def test_a_url_whose_name_carries_no_hash_is_refused_before_any_download(served, hub_cache, capsys):
    base, _ = served
    with pytest.raises(SystemExit) as exit_info:
        download("--url", f"{base}/inception.pth")
    assert exit_info.value.code == 2
    assert "names no SHA-256 prefix" in capsys.readouterr().err
    assert not hub_cache.exists()


def test_an_unreachable_address_says_where_to_copy_the_file(served, hub_cache, capsys):
    base, _ = served
    assert download("--url", f"{base}/{NAME}") == 1  # nothing served under that name: HTTP 404
    error = capsys.readouterr().err
    assert f"could not download {base}/{NAME}" in error
    assert f"copy {NAME} from a machine that has it to {hub_cache / HUB_WEIGHT_FILES[0]}" in error


def test_make_inception_weights_runs_the_command():
    root = Path(__file__).resolve().parents[1]
    command = ["make", "-s", "-n", "-C", str(root), "inception-weights"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.splitlines()[-1] == ".venv/bin/lightning-gans inception-weights"
