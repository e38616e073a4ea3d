"""DDP with 2 real CPU processes on gloo, without find_unused_parameters: replicas stay identical."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")


def run_worker(directory: Path, *arguments: str) -> None:
    env = {**os.environ, "PL_DISABLE_FORK": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(WORKER), str(directory), *arguments], env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "find_unused_parameters" not in result.stderr


@pytest.mark.parametrize(
    ("loss", "backbone", "dataset"), [("wgan_gp", "mlp", "ring8"), ("began", "infogan", "fashion_mnist")]
)
def test_two_process_ddp_keeps_replicas_identical(tmp_path, loss, backbone, dataset):
    run_worker(tmp_path, loss, backbone, dataset)
    initial = torch.load(tmp_path / "initial.pt")
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    assert [r["d_step"] for r in ranks] == [6, 6]
    parameters = [name for name in initial if "running" not in name and "num_batches" not in name]
    for name in parameters:
        # Identical across ranks (gradients averaged) and moved by training.
        torch.testing.assert_close(ranks[0]["state"][name], ranks[1]["state"][name], rtol=0, atol=0, msg=name)
    moved = [name for name in parameters if not torch.equal(ranks[0]["state"][name], initial[name])]
    assert any(name.startswith("generator.") for name in moved)
    assert any(name.startswith("discriminator.") for name in moved)


def test_ddp_scores_equal_the_single_process_score_of_the_same_samples(tmp_path, quick_domain_classifier):
    """Each rank scores its half of the fixed noise; every rank's merged score is the checkpoint's score over all the
    samples, computed here by numpy/scipy (a rank that scored its half alone would be far off)."""
    from test_evaluation import domain_scores_by_hand

    from lightning_gans.training.module import GAN

    run_worker(tmp_path, "ns_gan", "infogan", "fashion_mnist", "score")
    ranks = [torch.load(tmp_path / f"scores{rank}.pt") for rank in (0, 1)]
    model = GAN.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu")
    assert model.d_step == 6
    expected = domain_scores_by_hand(model, 600)
    for rank, scores in enumerate(ranks):
        for key in ("eval/fd_domain_n600", "eval/is_domain_n600", "eval/kid_domain_n600"):
            assert scores[key] == pytest.approx(expected[key], rel=1e-5), (rank, key)


def test_a_conditional_gan_under_ddp_keeps_replicas_identical_and_scores_each_class_as_one_process(
    tmp_path, quick_domain_classifier
):
    """Labels travel with each rank's batch slice (parameters identical; batch norm statistics are each rank's own, as
    unconditionally); the per-class sums of both ranks merge into the score of all the samples, by numpy/scipy."""
    from test_conditional import per_class_scores_by_hand

    from lightning_gans.training.module import GAN

    run_worker(tmp_path, "wgan_gp", "infogan", "fashion_mnist", "score", "conditional")
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    for name in (name for name in ranks[0]["state"] if "running" not in name and "num_batches" not in name):
        torch.testing.assert_close(ranks[0]["state"][name], ranks[1]["state"][name], rtol=0, atol=0, msg=name)
    initial = torch.load(tmp_path / "initial.pt")
    assert not torch.equal(
        ranks[0]["state"]["discriminator.embedding.weight"], initial["discriminator.embedding.weight"]
    )
    model = GAN.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu")
    expected = per_class_scores_by_hand(model, 1290)
    for rank in (0, 1):
        scores = torch.load(tmp_path / f"scores{rank}.pt")
        for name, value in expected.items():
            assert scores[f"eval/{name}_domain_n1290"] == pytest.approx(value, rel=1e-4, abs=1e-9), (rank, name)
