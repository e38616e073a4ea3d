"""`lightning-gans bench`: both training loops do the same work, the record says what it claims, bad input is refused.

Speeds are never asserted: they depend on the machine. What is checked is that the comparison is fair (the same
optimizer steps and initial weights in both loops) and that the JSON's numbers follow from its raw timings.
"""

import json
import shlex
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lightning_gans.bench.command import bench_command, bench_parser, training_cases
from lightning_gans.bench.sweeps import SweepBenchSettings, study_settings, sweep_command_line
from lightning_gans.bench.training import (
    PlainLoop,
    TrainingSettings,
    model_arguments,
    time_lightning,
    time_plain,
)
from lightning_gans.data import GANDataModule
from lightning_gans.search.launcher import parse_sweep, sweep_parser
from lightning_gans.training.losses import LOSSES
from lightning_gans.training.module import GAN

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def data() -> GANDataModule:
    return GANDataModule("fashion_mnist")


@pytest.fixture(scope="module", params=["fashion_mnist", "ring8"])
def case(request) -> GANDataModule:
    """Each case of the bench: the paper's network on Fashion-MNIST, the MLP on the ring of 8 Gaussians."""
    return GANDataModule(request.param)


def tiny(warmup: int = 2, steps: int = 5) -> TrainingSettings:
    return TrainingSettings(warmup, steps, repeats=1, batch_size=16, device=CPU, threads=1, seed=0)


@pytest.mark.parametrize("n_disc", [1, 5])
def test_both_loops_take_the_same_optimizer_steps(case, n_disc):
    arguments = {**model_arguments("wgan", case), "n_disc": n_disc}
    assert (arguments["backbone"], arguments["sample_shape"]) == (case.spec.backbone, case.sample_shape)
    settings = tiny()
    plain, lightning = time_plain(arguments, case, settings), time_lightning(arguments, case, settings)
    total = settings.warmup + settings.steps
    for run in (plain, lightning):
        assert (run.d_optimizer_steps, run.g_optimizer_steps) == (total, {1: 7, 5: 3}[n_disc])  # G: 0, 1, 6
        assert run.steps == settings.steps and run.seconds > 0


def test_both_loops_start_from_the_same_weights(data):
    arguments = model_arguments("began", data)
    torch.manual_seed(3)
    loop = PlainLoop(arguments, data.split("train").data, 16, CPU, seed=3)
    torch.manual_seed(3)
    model = GAN(**arguments)
    for mine, theirs in ((loop.generator, model.generator), (loop.discriminator, model.discriminator)):
        assert mine.state_dict().keys() == theirs.state_dict().keys()
        assert all(torch.equal(mine.state_dict()[key], theirs.state_dict()[key]) for key in mine.state_dict())


@pytest.mark.parametrize("loss", LOSSES.names())
def test_the_plain_loop_trains_every_loss_with_finite_losses(data, loss):
    torch.manual_seed(0)
    loop = PlainLoop(model_arguments(loss, data), data.split("train").data, 16, CPU, seed=0)
    before = [p.detach().clone() for p in loop.generator.parameters()]
    losses = [loop.step().total for _ in range(3)]
    assert all(torch.isfinite(value) for value in losses)
    assert loop.d_step == 3
    assert any(not torch.equal(old, new) for old, new in zip(before, loop.generator.parameters(), strict=True))


def test_the_record_has_the_documented_keys_and_its_ratios_follow_from_the_raw_timings(
    tmp_path, quick_domain_classifier, capsys
):
    output = tmp_path / "bench.json"
    arguments = ["--parts", "[training,evaluation]", "--losses", "[wgan]", "--steps", "2", "--warmup", "1"]
    arguments += ["--cases", "[fashion_mnist,ring8]"]
    arguments += ["--repeats", "2", "--batch_size", "16", "--extractors", "[domain,inception]", "--device", "cpu"]
    arguments += ["--eval_samples", "200", "--eval_repeats", "1", "--output", str(output)]
    assert bench_command(arguments) == 0
    record = json.loads(output.read_text())
    assert set(record) == {"machine", "settings", "training", "evaluation"}
    assert {"torch", "lightning", "cpu_count", "torch_threads", "device", "device_name"} <= set(record["machine"])
    assert record["settings"]["steps"] == 2 and record["settings"]["output"] == str(output)

    training = record["training"]
    assert {"lightning_path", "plain_path", "images_per_second", "target_ratio"} <= set(training)
    assert list(training["cases"]) == ["fashion_mnist", "ring8"]
    assert [case["backbone"] for case in training["cases"].values()] == ["infogan", "mlp"]
    for case in training["cases"].values():
        assert case["steps"] == 2 and list(case["losses"]) == ["wgan"]
        for loss, result in case["losses"].items():
            assert result["n_disc"] == 5
            medians = {}
            for loop in ("plain", "lightning"):
                runs = result[loop]["runs"]
                assert [run["loop"] for run in runs] == [loop, loop] and all(run["steps"] == 2 for run in runs)
                medians[loop] = statistics.median(run["steps"] / run["seconds"] for run in runs)
                assert result[loop]["d_steps_per_second"] == pytest.approx(medians[loop])
                assert result[loop]["images_per_second"] == pytest.approx(16 * medians[loop])
            ratios = [
                lightning["steps"] / lightning["seconds"] / (plain["steps"] / plain["seconds"])
                for plain, lightning in zip(result["plain"]["runs"], result["lightning"]["runs"], strict=True)
            ]
            assert result["ratio"] == pytest.approx(statistics.median(ratios))
            assert result["ratio_range"] == pytest.approx([min(ratios), max(ratios)])
            assert (loss in case["below_target"]) == (result["ratio"] < training["target_ratio"])

    domain = record["evaluation"]["domain"]
    assert domain["samples"] == 200
    assert domain["diagnostics_seconds"] == pytest.approx(
        domain["scores_with_diagnostics_seconds"] - domain["scores_seconds"]
    )
    assert domain["extraction_images_per_second"] == pytest.approx(200 / domain["raw_seconds"]["extraction"][0])
    inception = record["evaluation"]["inception"]
    assert "skipped" in inception or inception["samples"] == 200  # skipped where its weights are not on disk

    out = capsys.readouterr().out
    assert out.count("| loss | n_disc | plain D steps/s | lightning D steps/s |") == 2
    assert "fashion_mnist on infogan, 2 timed D steps per run" in out and "ring8 on mlp, 2 timed D steps" in out
    assert "| extractor | samples | FD+IS+KID s |" in out
    assert f"wrote {output}" in out


def test_each_case_times_its_own_steps_unless_told():
    """A step of the MLP is ~60 times shorter than one of the paper's network, so it is timed over more steps."""

    def steps(arguments: list[str]) -> list[tuple[str, int]]:
        cases = training_cases(bench_parser().parse_args(arguments), CPU)
        return [(data.spec.name, settings.steps) for data, settings in cases]

    assert steps([]) == [("fashion_mnist", 100), ("ring8", 1500)]
    assert steps(["--steps", "7", "--cases", "[ring8]"]) == [("ring8", 7)]


def test_the_sweep_benchmark_runs_the_command_a_user_would_type(tmp_path):
    settings = study_settings(SweepBenchSettings("ns_gan", 4, 60, 500, (1, 2), 7), tmp_path)
    command = sweep_command_line(settings, workers=2)
    assert command[:4] == [sys.executable, "-m", "lightning_gans.cli", "sweep"]
    config, parsed = parse_sweep(sweep_parser(), command[4:])
    assert parsed == settings and config.workers == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--losses", "[ns_gan,hinge]"], "Expected a typing.Literal['mm_gan', 'ns_gan', 'lsgan'"),
        (["--losses", "[ns_gan,hinge]"], "Got value: hinge"),
        (["--losses", "ns_gan"], "Expected a <class 'list'>. Got value: ns_gan"),
        (["--steps", "0"], "Not of type PositiveInt: does not conform to restriction v>0"),
        (["--warmup", "-1"], "Not of type PositiveInt: -1 does not conform to restriction v>0"),
        (["--repeats", "two"], "Not of type PositiveInt: invalid literal for int() with base 10: 'two'"),
        (
            ["--parts", "[training,speed]"],
            "Expected a typing.Literal['training', 'evaluation', 'sweeps', 'packing']. Got value: speed",
        ),
        (["--extractors", "[clip]"], "Got value: clip"),
        (["--cases", "[cifar10]"], "Expected a typing.Literal['fashion_mnist', 'ring8']. Got value: cifar10"),
        (["--sweep_workers", "[1,0]"], "Not of type PositiveInt: 0 does not conform to restriction v>0"),
        (["--device", "abacus"], "--device 'abacus' is not a device"),
    ],
)
def test_bad_arguments_are_usage_errors(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        bench_command([*arguments, "--output", str(tmp_path / "bench.json")])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "bench.json").exists()


def test_the_console_script_runs_bench():
    script = Path(sys.executable).with_name("lightning-gans")
    result = subprocess.run([str(script), "bench", "--losses", "[hinge]"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "Got value: hinge" in result.stderr


def test_make_bench_passes_its_variables_to_the_command():
    """The packing measurement on a GPU is `make bench BENCH_WORKERS=1,2,4,8`: a typo in the Makefile would
    silently measure the default worker counts instead."""
    root = Path(__file__).resolve().parents[1]
    variables = ["BENCH_PARTS=training,sweeps", "BENCH_WORKERS=1,2,4,8", "BENCH_STEPS=7", "BENCH_REPEATS=2"]
    result = subprocess.run(
        ["make", "-s", "-n", "-C", str(root), "bench", *variables, "REPORTS=somewhere"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    command = " ".join(result.stdout.replace("\\\n", " ").split())
    arguments = shlex.split(command[command.index("lightning-gans bench") :])[2:]
    options = bench_parser().parse_args(arguments)
    assert options.parts == ["training", "sweeps"] and options.sweep_workers == [1, 2, 4, 8]
    assert (options.steps, options.repeats, options.output) == (7, 2, "somewhere/bench.json")
