"""DDP with 2 real CPU processes on gloo, without find_unused_parameters: replicas stay identical."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("ddp_worker.py")


@pytest.mark.parametrize(
    ("loss", "backbone", "dataset"), [("wgan_gp", "mlp", "ring8"), ("began", "infogan", "fashion_mnist")]
)
def test_two_process_ddp_keeps_replicas_identical(tmp_path, loss, backbone, dataset):
    env = {**os.environ, "PL_DISABLE_FORK": "1", "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(WORKER), str(tmp_path), loss, backbone, dataset],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "find_unused_parameters" not in result.stderr
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
