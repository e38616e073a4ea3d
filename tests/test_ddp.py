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
    """Each rank scores its half of the fixed noise; the merged score is the checkpoint's single-process score."""
    from lightning_gans.data import GANDataModule
    from lightning_gans.evaluation import Evaluator
    from lightning_gans.metrics.extractors import build_extractor
    from lightning_gans.metrics.reference import load_or_compute_reference
    from lightning_gans.metrics.scores import GenerativeScores
    from lightning_gans.module import GAN

    run_worker(tmp_path, "ns_gan", "infogan", "fashion_mnist", "score")
    ranks = [torch.load(tmp_path / f"scores{rank}.pt") for rank in (0, 1)]
    ranks = [{key: value for key, value in scores.items() if "seconds" not in key} for scores in ranks]
    assert ranks[0] == ranks[1]  # every rank computed the merged score; none worked alone
    model = GAN.load_from_checkpoint(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu")
    assert model.d_step == 6
    extractor = build_extractor("domain", "fashion_mnist")
    test_images = GANDataModule("fashion_mnist").split("test")
    reference = load_or_compute_reference("fashion_mnist", "test", test_images, extractor, 600)
    single = Evaluator(extractor, reference, 600, 500, GenerativeScores(reference, kid_subset_size=100))
    expected = single.score(model, rank=0, world_size=1, progress=False)
    for key in ("eval/fd_domain_n600", "eval/is_domain_n600", "eval/kid_domain_n600"):
        assert ranks[0][key] == pytest.approx(expected[key], rel=1e-5), key
