"""Scores of a generator: equal to an independent float64 computation, cached references, the schedule."""

import csv
import math

import lightning.pytorch as pl
import pytest
import torch
from numpy_metrics import numpy_inception_score, numpy_kid, scipy_frechet

from lightning_gans.data import GANDataModule
from lightning_gans.evaluation.features import Evaluator, evaluation_noise, score_key, shard
from lightning_gans.metrics.extractors import build_extractor
from lightning_gans.metrics.reference import load_or_compute_reference, reference_path
from lightning_gans.metrics.scores import GenerativeScores
from lightning_gans.resources import CONFIGS
from lightning_gans.training.module import GAN, DivergedError

SAMPLES = 600


@pytest.fixture(scope="module")
def fashion():
    return GANDataModule("fashion_mnist")


@pytest.fixture(scope="module")
def extractor(quick_domain_classifier):
    return build_extractor("domain", "fashion_mnist")


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
    """docs/evaluation.md: the GANs' U[-1, 1] prior drawn from seed 2019, the same for every run and checkpoint."""
    expected = torch.rand(100, 64, generator=torch.Generator().manual_seed(2019)) * 2 - 1
    torch.testing.assert_close(evaluation_noise(100, 64), expected, rtol=0, atol=0)


def untrained_gan() -> GAN:
    pl.seed_everything(0)
    return GAN(loss="ns_gan", sample_shape=(1, 28, 28))


def domain_scores_by_hand(model: GAN, samples: int) -> dict[str, float]:
    """FD, IS and KID (with its std) of the model's evaluation samples against the first `samples` Fashion-MNIST
    test images in the domain features, by numpy/scipy; KID with GenerativeScores' 100 subsets and seed 0."""
    extractor = build_extractor("domain", "fashion_mnist")
    test_images = GANDataModule("fashion_mnist").split("test")
    noise = evaluation_noise(samples, model.hparams.z_dim, model.gan_loss.prior)
    with torch.no_grad():
        features, logits = extractor(model.sample(noise))
        real = extractor(torch.stack([test_images[i] for i in range(samples)]))[0].double().numpy()
    fake = features.double().numpy()
    kid, kid_std = numpy_kid(real, fake, subsets=100, subset_size=100, seed=0)
    inception_score = numpy_inception_score(logits.double().numpy())[0]
    scores = {"fd": scipy_frechet(fake, real), "is": inception_score, "kid": kid, "kid_std": kid_std}
    return {score_key(name, "domain", samples): value for name, value in scores.items()}


@pytest.mark.filterwarnings("ignore:Matrix is singular")  # dead ReLU features: a singular covariance, on purpose
def test_scores_equal_an_independent_float64_computation(fashion, extractor, tmp_path):
    reference = load_or_compute_reference(
        "fashion_mnist", "test", fashion.split("test"), extractor, SAMPLES, 128, root=tmp_path
    )
    model = untrained_gan()
    expected = domain_scores_by_hand(model, SAMPLES)
    assert expected["eval/kid_std_domain_n600"] > 0
    # The same samples in any batch size give the same scores.
    for batch_size in (128, 250):
        metric = GenerativeScores(reference, kid_subset_size=100)
        evaluator = Evaluator(extractor, reference, SAMPLES, batch_size, metric)
        scores = evaluator.score(model, rank=0, world_size=1, progress=False)
        for key, value in expected.items():
            assert scores[key] == pytest.approx(value, rel=1e-4 if "std" in key else 1e-5), (key, batch_size)
        assert scores["eval/is_std_domain_n600"] == 0  # one split
        assert scores["eval/seconds_domain_n600"] > 0


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
