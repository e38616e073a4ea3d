"""Scores of a generator: equal to an independent float64 computation, cached references, the schedule."""

import csv
import math

import lightning.pytorch as pl
import numpy as np
import pytest
import scipy.linalg
import torch

from lightning_gans.data import GANDataModule
from lightning_gans.evaluation import Evaluator, evaluation_noise, score_key, shard
from lightning_gans.metrics.extractors import build_extractor
from lightning_gans.metrics.reference import load_or_compute_reference, reference_path
from lightning_gans.metrics.scores import GenerativeScores
from lightning_gans.module import GAN, DivergedError
from lightning_gans.resources import CONFIGS

SAMPLES = 600


@pytest.fixture(scope="module")
def fashion():
    return GANDataModule("fashion_mnist")


@pytest.fixture(scope="module")
def extractor(quick_domain_classifier):
    return build_extractor("domain", "fashion_mnist")


def scipy_fd(a: np.ndarray, b: np.ndarray) -> float:
    """FD the textbook way, independently of the project: numpy statistics, scipy's matrix square root."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * np.trace(root))


def test_keys_name_extractor_and_sample_count():
    assert score_key("fd", "inception", 10_000) == "eval/fid_inception_n10000"
    assert score_key("fd", "domain", 2000) == "eval/fd_domain_n2000"
    assert score_key("kid", "domain", 2000) == "eval/kid_domain_n2000"


@pytest.mark.parametrize(("count", "world"), [(10, 1), (10, 3), (10_000, 2), (7, 4)])
def test_shards_partition_the_samples(count, world):
    shards = [shard(count, rank, world) for rank in range(world)]
    assert [i for part in shards for i in part] == list(range(count))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1


def test_evaluation_noise_is_fixed():
    torch.testing.assert_close(evaluation_noise(100, 64), evaluation_noise(100, 64), rtol=0, atol=0)


def untrained_gan() -> GAN:
    pl.seed_everything(0)
    return GAN(loss="ns_gan", sample_shape=(1, 28, 28))


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # dead ReLU features: a singular covariance, on purpose
def test_scores_equal_an_independent_float64_computation(fashion, extractor, tmp_path):
    test_images = fashion.split("test")
    reference = load_or_compute_reference("fashion_mnist", "test", test_images, extractor, SAMPLES, 128, root=tmp_path)
    model = untrained_gan()
    evaluator = Evaluator(extractor, reference, SAMPLES, 128, GenerativeScores(reference, kid_subset_size=100))
    scores = evaluator.score(model, rank=0, world_size=1, progress=False)

    with torch.no_grad():
        fake = extractor(model.sample(evaluation_noise(SAMPLES, 64)))[0].double().numpy()
        real = extractor(torch.stack([test_images[i] for i in range(SAMPLES)]))[0].double().numpy()
    assert scores["eval/fd_domain_n600"] == pytest.approx(scipy_fd(fake, real), rel=1e-5)
    assert scores["eval/is_domain_n600"] >= 1.0
    assert set(scores) >= {"eval/kid_domain_n600", "eval/kid_std_domain_n600", "eval/seconds_domain_n600"}
    # the same samples in other batch sizes give the same scores
    other = Evaluator(extractor, reference, SAMPLES, 250, GenerativeScores(reference, kid_subset_size=100))
    again = other.score(model, rank=0, world_size=1, progress=False)
    for key in ("eval/fd_domain_n600", "eval/is_domain_n600", "eval/kid_domain_n600"):
        assert again[key] == pytest.approx(scores[key], rel=1e-5)


def test_fd_grows_with_the_strength_of_added_noise(fashion, extractor, tmp_path):
    reference = load_or_compute_reference(
        "fashion_mnist", "test", fashion.split("test"), extractor, 2000, root=tmp_path
    )
    generator = torch.Generator().manual_seed(0)
    train = torch.stack([fashion.split("train")[i] for i in range(2000)])
    distances = []
    for sigma in (0.0, 0.05, 0.1, 0.2, 0.4):
        noisy = (train + sigma * torch.randn(train.shape, generator=generator)).clamp(0, 1)
        metric = GenerativeScores(reference, kid_subset_size=500)
        with torch.no_grad():
            metric.update(*extractor(noisy))
        distances.append(float(metric.compute()["fd"]))
    assert distances == sorted(distances) and len(set(distances)) == len(distances), distances


def test_reference_statistics_are_cached_under_a_complete_key(fashion, extractor, tmp_path):
    images = fashion.split("test")
    load_or_compute_reference("fashion_mnist", "test", images, extractor, 300, root=tmp_path)
    path = reference_path("fashion_mnist", "test", extractor, 300, tmp_path)
    assert path.name == f"fashion_mnist-test-domain-{extractor.weights_id}-n300.npz"
    written = path.stat().st_mtime_ns
    cached = load_or_compute_reference("fashion_mnist", "test", images, extractor, 300, root=tmp_path)
    assert path.stat().st_mtime_ns == written and cached.count == 300
    load_or_compute_reference("fashion_mnist", "test", images, extractor, 200, root=tmp_path)
    assert len(list(tmp_path.glob("*.npz"))) == 2
    with pytest.raises(ValueError, match="the test split of fashion_mnist has 10000 samples; 20000 were asked for"):
        load_or_compute_reference("fashion_mnist", "test", images, extractor, 20_000, root=tmp_path)


def test_a_generator_that_outputs_nan_is_a_divergence(fashion, extractor, tmp_path):
    reference = load_or_compute_reference("fashion_mnist", "test", fashion.split("test"), extractor, 200, root=tmp_path)
    model = untrained_gan()
    with torch.no_grad():
        model.generator[0].weight.fill_(float("nan"))
    evaluator = Evaluator(extractor, reference, 200, 100, GenerativeScores(reference, kid_subset_size=100))
    with pytest.raises(DivergedError, match="diverged at step 0: a generated sample is not finite"):
        evaluator.score(model, rank=0, world_size=1, progress=False)


def read_metrics(path):
    with open(path) as handle:
        return list(csv.DictReader(handle))


def test_a_run_scores_itself_and_keeps_the_best_checkpoint(quick_domain_classifier, tmp_path):
    from lightning_gans.runs import run

    cli = run(
        [
            "fit",
            "--config", str(CONFIGS / "data" / "fashion_mnist.yaml"),
            "--config", str(CONFIGS / "losses" / "ns_gan.yaml"),
            "--model.steps", "6",
            "--evaluation.every_n_steps", "3",
            "--evaluation.samples", "500",
            "--evaluation.kid_subset_size", "100",
            "--run.root", str(tmp_path),
            "--run.name", "scored",
            "--run.wandb", "false",
        ]
    )  # fmt: skip
    run_dir = tmp_path / "scored" / "version_0"
    rows = [row for row in read_metrics(run_dir / "metrics.csv") if row.get("eval/fd_domain_n500")]
    assert [int(row["step"]) for row in rows] == [3, 6]
    fds = [float(row["eval/fd_domain_n500"]) for row in rows]
    assert all(math.isfinite(value) and value > 0 for value in fds)
    assert float(rows[-1]["eval/best_fd_domain_n500"]) == pytest.approx(min(fds))
    best_step = [3, 6][fds.index(min(fds))]
    assert float(rows[-1]["eval/best_fd_domain_n500_step"]) == best_step
    best = torch.load(run_dir / "checkpoints" / "best.ckpt", weights_only=False)
    assert best["d_step"] == best_step
    assert cli.trainer.callback_metrics["eval/best_fd_domain_n500"] == pytest.approx(min(fds))


def test_wandb_logs_offline_without_an_account(quick_domain_classifier, tmp_path, monkeypatch):
    from lightning_gans.runs import run

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    run(
        [
            "fit",
            "--config", str(CONFIGS / "data" / "fashion_mnist.yaml"),
            "--config", str(CONFIGS / "losses" / "lsgan.yaml"),
            "--model.steps", "2",
            "--evaluation.samples", "300",
            "--evaluation.kid_subset_size", "100",
            "--run.root", str(tmp_path),
            "--run.name", "logged",
        ]
    )  # fmt: skip
    offline_runs = list((tmp_path / "wandb").glob("offline-run-*"))
    assert len(offline_runs) == 1
    images = list(offline_runs[0].rglob("samples_*.png"))
    assert images, "the sample grid did not reach W&B"
    assert (tmp_path / "logged" / "version_0" / "samples" / "step-00000002.png").exists()
