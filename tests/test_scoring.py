"""`evaluate` and `sample` on checkpoints of real tiny runs: the run's own scores back, exports other tools score."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch_fidelity
from PIL import Image
from torch_fidelity.feature_extractor_base import FeatureExtractorBase
from torch_fidelity.metric_fid import KEY_METRIC_FID
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY

from lightning_gans.commands import COMMANDS
from lightning_gans.data import GANDataModule
from lightning_gans.evaluation.synthetic import generate
from lightning_gans.export import NPZ_KEY, write_samples
from lightning_gans.metrics.extractors import build_extractor
from lightning_gans.metrics.features import to_pixels
from lightning_gans.metrics.frechet import feature_statistics, frechet_distance
from lightning_gans.resources import CONFIGS
from lightning_gans.runs import run
from lightning_gans.scoring import load_gan
from lightning_gans.search.sweep import keep_what_a_finished_trial_needs

SAMPLES = 300  # > 128 + 1: a non-singular covariance of the domain classifier's 128 features
POINTS = 2000
BATCH = 128
CPU = torch.device("cpu")
FIDELITY_EXTRACTOR = "lightning-gans-domain-fashion_mnist"


def fit(root: Path, name: str, *arguments: str) -> Path:
    """Four steps, scored at steps 2 and 4, on the CPU; the run's folder."""
    run(
        [
            "fit",
            *arguments,
            "--model.steps", "4",
            "--evaluation.every_n_steps", "2",
            "--evaluation.kid_subset_size", "100",
            "--trainer.accelerator", "cpu",
            "--trainer.enable_progress_bar", "false",
            "--run.root", str(root),
            "--run.name", name,
            "--run.wandb", "false",
        ]
    )  # fmt: skip
    return root / name / "version_0"


def configs(*names: str) -> list[str]:
    return [argument for name in names for argument in ("--config", str(CONFIGS / f"{name}.yaml"))]


def command(name: str, *arguments: str) -> str:
    """The command's stdout, after checking that it succeeded."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert COMMANDS[name]([*arguments, "--device", "cpu"]) == 0
    return printed.getvalue()


def logged_row(run_dir: Path, key: str) -> dict[str, float]:
    """metrics.csv's evaluation row at the run's best step (by the `key` objective): what its best.ckpt scored."""
    with open(run_dir / "metrics.csv") as handle:
        rows = [row for row in csv.DictReader(handle) if row.get(key)]
    best_step = int(float(rows[-1][key.replace("eval/", "eval/best_") + "_step"]))
    (row,) = [row for row in rows if int(row["step"]) == best_step]
    return {name: float(value) for name, value in row.items() if name.startswith("eval/") and value}


def assert_scores_are_the_logged_ones(record: dict, logged: dict[str, float]) -> None:
    comparable = {key for key in logged if not key.startswith("eval/best_") and not key.startswith("eval/seconds_")}
    assert comparable == {key for key in record["scores"] if not key.startswith("eval/seconds_")}
    for key in comparable:
        assert record["scores"][key] == pytest.approx(logged[key], rel=1e-9, abs=1e-12), key


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory, quick_domain_classifier) -> Path:
    """A run's first steps: its samples barely vary yet (TF batch norm's slow running averages), but they are its."""
    arguments = [*configs("data/fashion_mnist", "losses/ns_gan"), f"--evaluation.samples={SAMPLES}"]
    return fit(tmp_path_factory.mktemp("runs"), "fashion", *arguments, "--evaluation.extractor=domain")


@pytest.fixture(scope="module")
def evaluated(fashion_run) -> tuple[dict, str]:
    output, checkpoint = fashion_run / "scores.json", fashion_run / "checkpoints" / "best.ckpt"
    printed = command("evaluate", "--ckpt_path", str(checkpoint), "--output", str(output))
    return json.loads(output.read_text()), printed


def test_evaluate_gives_back_the_scores_the_run_logged_for_its_best_checkpoint(fashion_run, evaluated):
    record, printed = evaluated
    logged = logged_row(fashion_run, f"eval/fd_domain_n{SAMPLES}")
    assert_scores_are_the_logged_ones(record, logged)
    assert record["scores"][f"eval/fd_domain_n{SAMPLES}"] == pytest.approx(logged[f"eval/best_fd_domain_n{SAMPLES}"])
    assert (record["step"], record["extractor"], record["samples"]) == (
        logged[f"eval/best_fd_domain_n{SAMPLES}_step"],
        "domain",
        SAMPLES,
    )
    assert "FD is the domain FD, in the project's classifier's features, NOT Inception FID" in printed
    for key in (f"eval/fd_domain_n{SAMPLES}", f"eval/kid_domain_n{SAMPLES}", f"eval/recall_domain_n{SAMPLES}"):
        assert f"{key} = {record['scores'][key]:.10g}\n" in printed


class DomainFeatures(FeatureExtractorBase):
    """The project's domain extractor as torch-fidelity takes extractors: (N, 3, H, W) uint8 in, features out.

    torch-fidelity opens every PNG as RGB, so a grayscale image arrives as three equal channels; features are
    returned in float64 so that torch-fidelity's mean, like the project's statistics, is not rounded to float32.
    """

    def __init__(self, name: str, features_list: list[str], **kwargs: object) -> None:
        super().__init__(name, features_list)
        self.extractor = build_extractor("domain", "fashion_mnist")

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return ("domain",)

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return "domain"

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor]:
        return (self.extractor(images[:, :1].float() / 255)[0].double(),)


def read_pngs(folder: Path) -> torch.Tensor:
    return torch.stack([torch.from_numpy(np.array(Image.open(path))) for path in sorted(folder.iterdir())])


def features(images: torch.Tensor) -> torch.Tensor:
    extractor = build_extractor("domain", "fashion_mnist")
    return torch.cat([extractor(batch)[0] for batch in images.split(BATCH)])


def test_torch_fidelity_scores_a_png_export_as_evaluate_does(fashion_run, evaluated, tmp_path):
    """torch-fidelity's FD of the exported PNGs equals the project's FD of the same 8-bit images, and differs from
    `evaluate`'s (float samples) by no more than rounding the samples to 8 bits can move it.

    FD is the squared 2-Wasserstein distance W^2 between the fitted Gaussians, and W is a metric, so
    |W(quantised, test) - W(float, test)| <= W(quantised, float): the distance between the Gaussians fitted to the
    samples before and after rounding, measured on those very samples.
    """
    checkpoint = fashion_run / "checkpoints" / "best.ckpt"
    command("sample", "--ckpt_path", str(checkpoint), "--n", str(SAMPLES), "--out", str(tmp_path / "samples"))
    command("sample", "--ckpt_path", str(checkpoint), "--n", str(SAMPLES), "--out", str(tmp_path / "samples.npz"))
    test_split = GANDataModule("fashion_mnist").split("test")
    test_images = torch.stack([test_split[i] for i in range(SAMPLES)])
    write_samples(test_images.split(BATCH), tmp_path / "test", SAMPLES)

    exported = read_pngs(tmp_path / "samples")
    float_samples = generate(load_gan(checkpoint, CPU), SAMPLES, BATCH)
    assert exported.dtype == torch.uint8 and exported.shape == (SAMPLES, 28, 28)  # 8-bit grayscale, one per sample
    assert torch.equal(exported, to_pixels(float_samples)[:, 0])
    with np.load(tmp_path / "samples.npz") as archive:
        assert archive.files == [NPZ_KEY]
        assert np.array_equal(archive[NPZ_KEY], exported.unsqueeze(-1).numpy())  # NHWC uint8
    assert torch.equal(read_pngs(tmp_path / "test"), to_pixels(test_images)[:, 0])  # real images: lossless

    if FIDELITY_EXTRACTOR not in FEATURE_EXTRACTORS_REGISTRY:
        torch_fidelity.register_feature_extractor(FIDELITY_EXTRACTOR, DomainFeatures)
    fidelity = torch_fidelity.calculate_metrics(
        input1=str(tmp_path / "samples"),
        input2=str(tmp_path / "test"),
        fid=True,
        feature_extractor=FIDELITY_EXTRACTOR,
        batch_size=BATCH,
        cuda=False,
        cache=False,
        save_cpu_ram=True,  # no loader worker processes
        verbose=False,
    )[KEY_METRIC_FID]

    test_statistics = feature_statistics(features(test_images))
    quantised = feature_statistics(features(exported.unsqueeze(1).float() / 255))
    assert fidelity == pytest.approx(float(frechet_distance(*quantised, *test_statistics)), rel=1e-9)

    fd = evaluated[0]["scores"][f"eval/fd_domain_n{SAMPLES}"]
    rounding = math.sqrt(float(frechet_distance(*feature_statistics(features(float_samples)), *quantised)))
    assert abs(math.sqrt(fidelity) - math.sqrt(fd)) <= rounding + 1e-9 * math.sqrt(fd)


@pytest.fixture(scope="module")
def ring8_trial(tmp_path_factory) -> Path:
    """A 2-D mixture run, its checkpoints slimmed as a finished sweep trial's are."""
    arguments = [*configs("data/ring8", "backbones/mlp", "losses/ns_gan"), f"--evaluation.samples={POINTS}"]
    run_dir = fit(tmp_path_factory.mktemp("runs"), "ring8", *arguments)
    keep_what_a_finished_trial_needs(run_dir / "checkpoints")
    return run_dir


def test_a_sweep_trials_slimmed_checkpoint_is_scored_and_exported_as_points(ring8_trial, tmp_path, capsys):
    checkpoint = ring8_trial / "checkpoints" / "best.ckpt"
    assert "optimizer_states" not in torch.load(checkpoint, weights_only=False)
    command("evaluate", "--ckpt_path", str(checkpoint), "--output", str(tmp_path / "scores.json"))
    record = json.loads((tmp_path / "scores.json").read_text())
    assert_scores_are_the_logged_ones(record, logged_row(ring8_trial, f"eval/modes_points_n{POINTS}"))
    assert record["extractor"] is None

    printed = command("evaluate", "--ckpt_path", str(checkpoint), "--seed", "1", "--output", str(tmp_path / "1.json"))
    assert "samples from noise seed 1\n" in printed and json.loads((tmp_path / "1.json").read_text())["seed"] == 1

    module = load_gan(checkpoint, CPU)
    for seed in ("2019", "1"):
        out = tmp_path / f"points-{seed}.npz"
        command("sample", "--ckpt_path", str(checkpoint), "--n", "100", "--out", str(out), "--seed", seed)
        with np.load(out) as archive:
            points = archive[NPZ_KEY]
        assert points.dtype == np.float32 and points.shape == (100, 2)
        np.testing.assert_array_equal(points, generate(module, 100, BATCH, int(seed)).numpy())

    with pytest.raises(SystemExit) as exit_info:
        COMMANDS["sample"](["--ckpt_path", str(checkpoint), "--n", "100", "--out", str(tmp_path / "pictures")])
    assert exit_info.value.code == 2
    assert "these samples are 2-D points, not images, and cannot be PNG files" in capsys.readouterr().err
    assert not (tmp_path / "pictures").exists()


def refusal(capsys, name: str, *arguments: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        COMMANDS[name]([*arguments, "--device", "cpu"])
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_bad_checkpoints_and_settings_are_refused_by_name(ring8_trial, tmp_path, capsys):
    missing, noise, foreign = tmp_path / "missing.ckpt", tmp_path / "noise.ckpt", tmp_path / "weights.pt"
    noise.write_bytes(bytes(range(256)) * 8)
    torch.save({"state_dict": {}}, foreign)
    for path, message in (
        (missing, "does not exist"),
        (noise, "is not a checkpoint: not a file torch.save wrote"),
        (foreign, "is not a checkpoint of a GAN"),
    ):
        for name, extra in (("evaluate", ()), ("sample", ("--n", "4", "--out", str(tmp_path / "out.npz")))):
            assert f"ckpt_path {path} {message}" in refusal(capsys, name, "--ckpt_path", str(path), *extra)
    checkpoint = str(ring8_trial / "checkpoints" / "best.ckpt")
    listing = "Expected a typing.Literal['auto', 'inception', 'domain']. Got value: clip"
    assert listing in refusal(capsys, "evaluate", "--ckpt_path", checkpoint, "--extractor", "clip")
    assert "--output scores.txt must be a .json file" in refusal(
        capsys, "evaluate", "--ckpt_path", checkpoint, "--output", "scores.txt"
    )
    alone = tmp_path / "alone.ckpt"
    alone.write_bytes(Path(checkpoint).read_bytes())
    assert f"has no config.yaml at {tmp_path.parent / 'config.yaml'} to name its dataset; give it with --data" in (
        refusal(capsys, "evaluate", "--ckpt_path", str(alone))
    )
    assert "0 does not conform to restriction v>0" in refusal(
        capsys, "sample", "--ckpt_path", checkpoint, "--n", "0", "--out", str(tmp_path / "out.npz")
    )
    assert not (tmp_path / "out.npz").exists()


def test_sample_refuses_to_write_over_files_unless_told(fashion_run, tmp_path, capsys):
    checkpoint = str(fashion_run / "checkpoints" / "best.ckpt")
    folder, archive = tmp_path / "samples", tmp_path / "samples.npz"
    folder.mkdir()
    (folder / "mine.txt").write_text("kept")
    archive.write_text("kept")
    for out, message in (
        (folder, f"out {folder} is a directory that is not empty; pass --overwrite"),
        (archive, f"out {archive} exists; pass --overwrite"),
        (tmp_path / "samples.png", "ends in '.png'; give a directory (a name without a suffix) for PNG files"),
        (tmp_path / "mine.txt", "ends in '.txt'"),
    ):
        assert message in refusal(capsys, "sample", "--ckpt_path", checkpoint, "--n", "3", "--out", str(out))
    assert (folder / "mine.txt").read_text() == archive.read_text() == "kept"
    command("sample", "--ckpt_path", checkpoint, "--n", "3", "--out", str(folder), "--overwrite", "true")
    assert sorted(path.name for path in folder.iterdir()) == ["000000.png", "000001.png", "000002.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["samples", "samples.npz"]  # no temporary left
