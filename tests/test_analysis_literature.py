"""The paper's reported numbers as shipped data: every record read, typed, named by the registries, and found."""

import pytest
import yaml

from lightning_gans.analysis.literature import BIAS_CHECK, RERUNS, PaperScore, paper_score, paper_scores
from lightning_gans.data.datasets import DATASETS
from lightning_gans.evaluation.features import score_key
from lightning_gans.resources import PAPER_SCORES_FILE
from lightning_gans.training.losses import LOSSES

FID = score_key("fd", "inception", 10_000)


def test_every_number_in_the_file_is_a_record_of_the_papers_fid():
    raw = yaml.safe_load(PAPER_SCORES_FILE.read_text())
    scores = paper_scores()
    assert [(score.kind, score.dataset, score.loss, score.mean, score.std) for score in scores] == [
        (kind, entry["dataset"], entry.get("loss"), entry["mean"], entry.get("std"))
        for kind in (RERUNS, BIAS_CHECK)
        for entry in raw[kind]["scores"]
    ]
    assert len(scores) == 13  # three losses on four datasets, and the bias check on Fashion-MNIST
    for score in scores:
        assert isinstance(score, PaperScore) and isinstance(score.mean, float)
        assert score.metric == FID and score.dataset in DATASETS
        assert score.statistic and score.source.startswith("Lucic et al. 2018")
        if score.kind == RERUNS:
            assert score.loss in LOSSES and score.std > 0
            assert (score.space, score.trials, score.seeds) == ("wide", 100, 50)


@pytest.mark.parametrize(
    ("kind", "dataset", "loss", "mean", "std"),
    [
        (RERUNS, "mnist", "ns_gan", 6.8, 0.5),
        (RERUNS, "fashion_mnist", "wgan_gp", 24.5, 2.1),
        (RERUNS, "cifar10", "began", 71.4, 1.6),
        (RERUNS, "celeba", "wgan_gp", 30.0, 1.0),
        (BIAS_CHECK, "fashion_mnist", None, 2.6, None),
    ],
)
def test_paper_score_finds_a_number_by_kind_dataset_and_loss(kind, dataset, loss, mean, std):
    score = paper_score(kind, dataset, loss)
    assert (score.mean, score.std) == (mean, std)


def test_a_number_the_paper_does_not_report_is_none():
    assert paper_score(RERUNS, "fashion_mnist", "lsgan") is None  # not among the numbers the study lists
    assert paper_score(RERUNS, "polygons", "ns_gan") is None
    assert paper_score(BIAS_CHECK, "fashion_mnist", "ns_gan") is None  # the bias check trains no GAN


@pytest.mark.parametrize(
    ("key", "comparable"),
    [
        (FID, True),
        ("eval/fid_inception_n2000", False),
        ("eval/fd_domain_n10000", False),
        ("eval/is_inception_n10000", False),
    ],
)
def test_only_the_papers_own_metric_is_comparable(key, comparable):
    assert paper_score(RERUNS, "fashion_mnist", "ns_gan").is_comparable(key) is comparable
