"""Mode-collapse measurements at every evaluation: equal to a scipy/numpy computation, and they catch a collapse."""

import csv
import math

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from numpy_metrics import kth_neighbour_distances, numpy_density_coverage, numpy_precision_recall
from scipy.spatial.distance import pdist

from lightning_gans.data import GANDataModule
from lightning_gans.evaluation.features import Evaluator, evaluation_noise
from lightning_gans.evaluation.objectives import improves, resolve_objective
from lightning_gans.metrics.diagnostics import FeatureDiagnostics
from lightning_gans.metrics.extractors import build_extractor
from lightning_gans.metrics.reference import load_or_compute_reference
from lightning_gans.metrics.scores import GenerativeScores
from lightning_gans.resources import CONFIGS
from lightning_gans.training.module import GAN

SAMPLES = 600


@pytest.fixture(scope="module")
def extractor(quick_domain_classifier):
    return build_extractor("domain", "fashion_mnist")


@pytest.fixture(scope="module")
def reference(extractor, tmp_path_factory):
    images = GANDataModule("fashion_mnist").split("test")
    root = tmp_path_factory.mktemp("reference")
    return load_or_compute_reference("fashion_mnist", "test", images, extractor, SAMPLES, 200, root=root)


def evaluate(model: GAN, extractor, reference, support_batch: int = 200) -> dict[str, float]:
    diagnostics = FeatureDiagnostics(reference.bank, class_logits=True, support_batch=support_batch)
    metric = GenerativeScores(reference, kid_subset_size=100, diagnostics=diagnostics)
    return Evaluator(extractor, reference, SAMPLES, 200, metric).score(model, rank=0, world_size=1, progress=False)


def untrained_gan() -> GAN:
    pl.seed_everything(0)
    return GAN(loss="ns_gan", sample_shape=(1, 28, 28))


def test_diagnostics_equal_an_independent_computation_on_the_same_features(extractor, reference):
    """Precision and recall with k = 3 (Kynkaanniemi et al.), density and coverage with k = 5 (Naeem et al.), the
    predicted classes with a fifth of the uniform share as the bar, and near-duplicate pairs within batches of 200 at
    the 1% quantile of the real nearest-neighbour distances, all in scipy/numpy float64 on the evaluation's own
    features."""
    model = untrained_gan()
    scores = evaluate(model, extractor, reference)
    with torch.no_grad():
        features, logits = extractor(model.sample(evaluation_noise(SAMPLES, 64)))
    real, fake = reference.bank.double().numpy(), features.double().numpy()
    precision_recall = numpy_precision_recall(real, fake, k=3)
    assert (scores["eval/precision_domain_n600"], scores["eval/recall_domain_n600"]) == precision_recall
    density_coverage = numpy_density_coverage(real, fake, k=5)
    assert (scores["eval/density_domain_n600"], scores["eval/coverage_domain_n600"]) == density_coverage
    shares = np.bincount(logits.argmax(dim=1).numpy(), minlength=10) / SAMPLES
    assert scores["eval/classes_domain_n600"] == (shares >= 0.2 / 10).sum()
    present = shares[shares > 0]
    assert scores["eval/class_kl_domain_n600"] == pytest.approx((present * np.log(present * 10)).sum(), rel=1e-9)
    threshold = np.quantile(kth_neighbour_distances(real, 1), 0.01)
    duplicates = sum(int((pdist(batch) <= threshold).sum()) for batch in np.split(fake, 3))
    assert scores["eval/duplicates_domain_n600"] == duplicates
    pairs = math.comb(200, 2) * 3
    assert scores["eval/support_domain_n600"] == (pairs / duplicates if duplicates else math.inf)
    assert 0 < scores["eval/support_lower_domain_n600"] < math.inf


def test_a_generator_that_draws_one_image_is_caught_by_every_diagnostic(extractor, reference):
    model = untrained_gan()
    with torch.no_grad():  # every z gives the same image: the last layer sees only its bias
        model.generator[-2].weight.zero_()
    scores = evaluate(model, extractor, reference)
    assert scores["eval/recall_domain_n600"] <= 0.01  # one point covers almost none of the real manifold
    assert scores["eval/coverage_domain_n600"] <= 0.01  # and lies in almost none of the real balls
    assert scores["eval/classes_domain_n600"] == 1
    assert scores["eval/class_kl_domain_n600"] == pytest.approx(math.log(10), rel=1e-6)
    assert scores["eval/duplicates_domain_n600"] == math.comb(200, 2) * 3  # every pair is a duplicate
    assert scores["eval/support_domain_n600"] == pytest.approx(1.0)


def test_objectives_resolve_per_dataset_and_know_their_direction():
    assert resolve_objective("auto", "fashion_mnist") == "fd"
    assert resolve_objective("auto", "polygons") == "f1"
    assert resolve_objective("auto", "ring8") == resolve_objective("auto", "grid25") == "modes"
    assert improves(3.0, 4.0, "fd") and not improves(5.0, 4.0, "fd")
    assert improves(5.0, 4.0, "modes") and not improves(3.0, 4.0, "f1")
    with pytest.raises(ValueError, match="unknown objective 'fid'; valid objectives: auto, fd, kid, f1"):
        resolve_objective("fid", "mnist")


def run_rows(tmp_path, *arguments: str) -> list[dict[str, str]]:
    from lightning_gans.runs import run

    run(["fit", *arguments, "--run.root", str(tmp_path), "--run.name", "run", "--run.wandb", "false"])
    with open(tmp_path / "run" / "version_0" / "metrics.csv") as handle:
        return [row for row in csv.DictReader(handle) if any(key.startswith("eval/") and v for key, v in row.items())]


def test_a_mixture_run_counts_modes_and_keeps_the_most_covered_checkpoint(tmp_path):
    rows = run_rows(
        tmp_path,
        "--config", str(CONFIGS / "data" / "ring8.yaml"),
        "--config", str(CONFIGS / "backbones" / "mlp.yaml"),
        "--config", str(CONFIGS / "losses" / "ns_gan.yaml"),
        "--model.steps", "40",
        "--evaluation.every_n_steps", "20",
        "--evaluation.samples", "800",
    )  # fmt: skip
    modes = [float(row["eval/modes_points_n800"]) for row in rows]
    assert len(modes) == 2 and all(0 <= value <= 8 and value.is_integer() for value in modes)
    assert all(0 <= float(row["eval/high_quality_points_n800"]) <= 1 for row in rows)
    assert float(rows[-1]["eval/best_modes_points_n800"]) == max(modes)


def test_a_polygon_run_scores_precision_recall_and_f1(tmp_path):
    rows = run_rows(
        tmp_path,
        "--config", str(CONFIGS / "data" / "polygons.yaml"),
        "--config", str(CONFIGS / "losses" / "ns_gan.yaml"),
        "--model.steps", "4",
        "--evaluation.samples", "300",
        "--evaluation.polygon_targets", "20",
        "--evaluation.inversion_restarts", "1",
        "--evaluation.inversion_steps", "5",
    )  # fmt: skip
    (row,) = rows
    precision, recall = float(row["eval/precision_polygons_n300"]), float(row["eval/recall_polygons_n300"])
    f1 = float(row["eval/f1_polygons_n300"])
    assert 0 <= precision <= 1 and 0 <= recall <= 1
    assert f1 == pytest.approx(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    assert float(row["eval/best_f1_polygons_n300"]) == f1
