"""`lightning-gans bench --parts [packing]`: K trials as one pack against K = 1, at tiny size; the record's numbers
follow from its raw runs. Speeds are not asserted: they depend on the machine."""

import json

import pytest

from lightning_gans.bench.command import bench_command
from lightning_gans.bench.packing import CASES, PackingSettings, build_run, target_verdict
from lightning_gans.data import DATASETS
from lightning_gans.training.module import GAN
from lightning_gans.training.packed_module import PackedGAN


def test_the_packing_record_follows_from_its_runs(tmp_path, capsys):
    output = tmp_path / "bench.json"
    arguments = ["--parts", "[packing]", "--pack_sizes", "[2,1]", "--pack_steps", "3", "--pack_paper_steps", "1"]
    assert bench_command([*arguments, "--warmup", "1", "--batch_size", "8", "--output", str(output)]) == 0
    record = json.loads(output.read_text())["packing"]
    assert record["loss"] == "ns_gan" and set(record["cases"]) == set(CASES)
    for case, result in record["cases"].items():
        paper_steps = DATASETS.get(CASES[case][0]).paper_steps
        assert (result["dataset"], result["backbone"], result["paper_steps"]) == (*CASES[case], paper_steps)
        rows = {row["size"]: row for row in result["sizes"]}
        assert sorted(rows) == [1, 2]
        for size, row in rows.items():
            (run,) = row["runs"]
            assert row["steps_per_second"] == pytest.approx(run["steps_per_second"])
            assert row["trials_per_hour"] == pytest.approx(size * run["steps_per_second"] * 3600 / paper_steps)
            assert row["parameter_bytes"] == size * rows[1]["parameter_bytes"]  # K members' weights, no more
            assert row["training_memory_bytes"] >= 0
        assert rows[2]["speedup"] == pytest.approx(rows[2]["trials_per_hour"] / rows[1]["trials_per_hour"])
        assert result["target"]["met"] in (True, False) if case == "paper" else result["target"]["met"] is None
    printed = capsys.readouterr().out
    assert "packing: ns_gan, K trials as one pack" in printed and "mixtures: K=16 gives >= 8.0x" in printed


def test_a_pack_of_one_is_the_ordinary_module_and_members_are_seeded_as_trials():
    settings = PackingSettings("mixtures", "wgan", 3, 1, 2, 8, "cpu", 1, seed=5)
    pack, data = build_run(settings)
    assert isinstance(pack, PackedGAN) and data.seeds == [5, 6, 7]
    single, _ = build_run(PackingSettings("mixtures", "wgan", 1, 1, 2, 8, "cpu", 1, seed=6))
    assert isinstance(single, GAN) and single.hparams.steps == 3
    assert all(value.equal(pack.member(1).state_dict()[key]) for key, value in single.state_dict().items()), (
        "member 1 is the run a trial seeded 6 would build"
    )


@pytest.mark.parametrize(
    ("case", "speedups", "met"),
    [("mixtures", {1: 1.0, 16: 8.5}, True), ("mixtures", {1: 1.0, 16: 7.9}, False), ("mixtures", {1: 1.0}, None),
     ("paper", {1: 1.0, 2: 0.95, 4: 0.91}, True), ("paper", {1: 1.0, 2: 0.95, 4: 0.89}, False)],
)  # fmt: skip
def test_the_target_verdict_reads_the_rule_of_its_case(case, speedups, met):
    rows = [{"size": size, "speedup": speedup} for size, speedup in speedups.items()]
    assert target_verdict(case, rows)["met"] is met
