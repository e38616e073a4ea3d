"""Class-conditional GANs: the networks take labels, the data serves them, the scores compare per class."""

import itertools

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from numpy_metrics import scipy_frechet
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from lightning_gans.data import GANDataModule
from lightning_gans.data.containers import LabelledSamples
from lightning_gans.data.labels import labelled_split
from lightning_gans.data.resident import ResidentBatches
from lightning_gans.data.sampling import StepBatchSampler
from lightning_gans.evaluation.classes import check_conditional_samples
from lightning_gans.evaluation.features import evaluation_labels
from lightning_gans.metrics.class_scores import ClassConditionalScores, ClassReference
from lightning_gans.metrics.frechet import InsufficientSamplesError
from lightning_gans.search.sweep import SweepSettings, shared_trial_arguments
from lightning_gans.training.conditioning import (
    LABEL_EMBEDDING,
    LabelConcatenated,
    ProjectionCritic,
    build_pair,
)
from lightning_gans.training.module import GAN, GRID_COLUMNS, grid_labels, split_batch
from lightning_gans.training.nets import Logits
from lightning_gans.training.packed_module import PackedGAN

SHAPES = {"infogan": (1, 28, 28), "dcgan": (3, 32, 32), "mlp": (2,)}
KINDS = {"critic": (False, False), "autoencoder": (True, False), "encoder": (False, True)}


# -- networks ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", SHAPES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_backbone_and_discriminator_kind_has_the_unconditional_shapes(backbone, kind):
    shape, (autoencoder, encoder) = SHAPES[backbone], KINDS[kind]
    torch.manual_seed(0)
    plain = build_pair(backbone, shape, 8, True, autoencoder, encoder, 0)
    conditional = build_pair(backbone, shape, 8, True, autoencoder, encoder, 10)
    z, labels = torch.rand(4, 8) * 2 - 1, torch.tensor([0, 3, 9, 3])
    samples = conditional.generator(z, labels)
    assert samples.shape == plain.generator(z).shape == (4, *shape)
    judged = conditional.discriminator(samples, labels)
    assert judged.shape == plain.discriminator(samples).shape
    # Each network reads the label: another label, another output for the same input.
    other = torch.tensor([1, 4, 0, 5])
    assert not torch.allclose(conditional.generator(z, other), samples)
    assert not torch.allclose(conditional.discriminator(samples, other), judged)


def test_the_generator_concatenates_the_label_embedding_to_z():
    body = nn.Linear(2 + LABEL_EMBEDDING, 3)
    generator = LabelConcatenated(body, classes=4)
    z, labels = torch.tensor([[0.5, -1.0]]), torch.tensor([2])
    expected = body(torch.cat([z, generator.embedding.weight[2:3]], dim=1))
    torch.testing.assert_close(generator(z, labels), expected, rtol=0, atol=0)


def tiny_projection() -> ProjectionCritic:
    """trunk: ReLU(W x + b) with W = [[1, 0, 1], [0, 1, -1]], b = [0, 0.5]; head: [2, -1] h + 0.5; V = [[-1, 1],
    [0.25, 4]]."""
    trunk = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    head = nn.Linear(2, 1)
    critic = ProjectionCritic(trunk, head, features=2, classes=2)
    with torch.no_grad():
        trunk[0].weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, -1.0]]))
        trunk[0].bias.copy_(torch.tensor([0.0, 0.5]))
        head.weight.copy_(torch.tensor([[2.0, -1.0]]))
        head.bias.copy_(torch.tensor([0.5]))
        critic.embedding.weight.copy_(torch.tensor([[-1.0, 1.0], [0.25, 4.0]]))
    return critic


def test_the_projection_discriminator_equals_a_hand_computed_value():
    # x1 = [1, -1, 2]: h = ReLU([3, -2.5]) = [3, 0]; psi = 2*3 - 0 + 0.5 = 6.5; <V_y, h> = -3 (y=0) or 0.75 (y=1).
    # x2 = [0, 2, 1]:  h = ReLU([1, 1.5]) = [1, 1.5]; psi = 2 - 1.5 + 0.5 = 1; <V_y, h> = 0.5 (y=0) or 6.25 (y=1).
    critic = tiny_projection()
    x = torch.tensor([[1.0, -1.0, 2.0], [0.0, 2.0, 1.0]])
    torch.testing.assert_close(critic(x, torch.tensor([0, 1])), torch.tensor([3.5, 7.25]))
    torch.testing.assert_close(critic(x, torch.tensor([1, 0])), torch.tensor([7.25, 1.5]))


@pytest.mark.parametrize("backbone", SHAPES)
def test_with_a_zero_class_embedding_the_projection_critic_is_the_backbones_critic(backbone):
    torch.manual_seed(0)
    critic = build_pair(backbone, SHAPES[backbone], 8, True, False, False, 10).discriminator
    assert isinstance(critic, ProjectionCritic)
    with torch.no_grad():
        critic.embedding.weight.zero_()
    unconditional = Logits(nn.Sequential(*critic.trunk, critic.head))
    x = torch.rand(5, *SHAPES[backbone])
    torch.testing.assert_close(critic(x, torch.arange(5)), unconditional(x), rtol=0, atol=0)


def test_began_and_the_vae_take_the_label_as_input_channels_and_keep_their_outputs():
    torch.manual_seed(0)
    autoencoder = build_pair("infogan", (1, 28, 28), 8, True, True, False, 10).discriminator
    assert isinstance(autoencoder, LabelConcatenated)
    first = autoencoder.body[0]
    assert (first.in_channels, first.out_channels) == (1 + LABEL_EMBEDDING, 64)
    assert autoencoder.body[-2].out_channels == 1  # the reconstruction is the image's alone
    encoder = build_pair("mlp", (2,), 8, True, False, True, 10).discriminator
    assert encoder.body[0].in_features == 2 + LABEL_EMBEDDING


def test_labels_are_refused_where_they_do_not_belong():
    with pytest.raises(ValueError, match="num_classes=1 is not allowed"):
        GAN(num_classes=1)
    conditional, plain = GAN(num_classes=10), GAN()
    with pytest.raises(ValueError, match="one class label per noise vector"):
        conditional.sample(torch.rand(2, 64))
    with pytest.raises(ValueError, match="takes no class labels"):
        plain.sample(torch.rand(2, 64), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"needs labelled batches; set data\.conditional true"):
        split_batch(torch.rand(4, 1, 28, 28), 10)
    with pytest.raises(ValueError, match=r"serves labelled batches \(data.conditional true\) to an unconditional"):
        split_batch((torch.rand(4, 1, 28, 28), torch.zeros(4, dtype=torch.long)), 0)
    with pytest.raises(ValueError, match="num_classes=10 is not supported in a pack"):
        PackedGAN([GAN(num_classes=10), GAN(num_classes=10)])


def test_the_sample_grid_has_one_class_per_row():
    model = GAN(num_classes=10)
    assert model.fixed_noise.shape == (10 * GRID_COLUMNS, 64)
    torch.testing.assert_close(grid_labels(3), torch.tensor([0] * 8 + [1] * 8 + [2] * 8))
    assert model.grid_samples().shape == (80, 1, 28, 28)


# -- training -----------------------------------------------------------------------------------------------------


def two_class_points(count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Class 0 around (-2, 0), class 1 around (2, 0), std 0.2: which class a sample is shows in its sign of x."""
    labels = torch.arange(count) % 2
    centres = torch.stack([torch.where(labels == 0, -2.0, 2.0), torch.zeros(count)], dim=1)
    return torch.randn(count, 2, generator=torch.Generator().manual_seed(1)) * 0.2 + centres, labels


def quiet_trainer(**kwargs) -> pl.Trainer:
    return pl.Trainer(
        accelerator="cpu",
        max_epochs=-1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        use_distributed_sampler=False,
        **kwargs,
    )


def test_a_conditional_generator_draws_the_class_it_is_asked_for(one_thread):
    pl.seed_everything(0)
    points, labels = two_class_points(4096)
    loader = DataLoader(TensorDataset(points, labels), batch_size=64, shuffle=True, drop_last=True)
    model = GAN(loss="ns_gan", backbone="mlp", sample_shape=(2,), steps=300, num_classes=2, lr=1e-3, z_dim=4)
    quiet_trainer().fit(model, loader)
    z = torch.rand(1000, 4, generator=torch.Generator().manual_seed(2)) * 2 - 1
    for label, side in ((0, -1), (1, 1)):
        samples = model.sample(z, torch.full((1000,), label))
        share = (torch.sign(samples[:, 0]) == side).float().mean().item()
        assert share > 0.9, f"class {label}: {share:.0%} of samples on its side; chance is 50%"


def conditional_fashion_run(root, steps, loss, n_disc, ckpt_path=None):
    from lightning_gans.evaluation.schedule import EvaluationSchedule

    pl.seed_everything(0)
    model = GAN(loss=loss, steps=steps, n_disc=n_disc, num_classes=10)
    schedule = EvaluationSchedule(every_n_steps=4, extractor="none")
    trainer = quiet_trainer(default_root_dir=root, callbacks=[schedule])
    trainer.fit(model, datamodule=GANDataModule("fashion_mnist", batch_size=16, conditional=True), ckpt_path=ckpt_path)
    return model


@pytest.mark.parametrize(("loss", "n_disc"), [("wgan_gp", 2), ("began", 2), ("vae", 1)])
def test_a_resumed_conditional_run_equals_the_uninterrupted_one(tmp_path, one_thread, loss, n_disc):
    whole = conditional_fashion_run(tmp_path / "whole", 8, loss, n_disc)
    conditional_fashion_run(tmp_path / "half", 4, loss, n_disc)
    checkpoint = tmp_path / "half" / "checkpoints" / "last.ckpt"
    resumed = conditional_fashion_run(tmp_path / "resumed", 8, loss, n_disc, ckpt_path=str(checkpoint))
    assert resumed.d_step == whole.d_step == 8
    expected, actual = whole.state_dict(), resumed.state_dict()
    assert any("embedding" in name for name in expected)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=0, atol=0, msg=f"{name} differs")


# -- data ---------------------------------------------------------------------------------------------------------


def test_conditional_batches_pair_each_image_with_its_label():
    split_images, split_labels = labelled_split("fashion_mnist", None, "train", False)
    streamed = []
    for on_device in (True, False):
        data = GANDataModule("fashion_mnist", batch_size=8, seed=3, conditional=True, on_device=on_device)
        data.setup()
        streamed.append([batch for _, batch in zip(range(3), data.train_dataloader(), strict=False)])
    indices = list(itertools.islice(StepBatchSampler(len(split_labels), 8, 3, 0, 0, 1), 3))
    for step, batch_indices in enumerate(indices):
        for samples, labels in (streamed[0][step], streamed[1][step]):
            torch.testing.assert_close(labels, split_labels[batch_indices], rtol=0, atol=0)
            torch.testing.assert_close(samples, split_images[batch_indices].float() / 255, rtol=0, atol=0)
    assert GANDataModule("fashion_mnist", conditional=True).num_classes == 10
    assert GANDataModule("fashion_mnist").num_classes == 0


def test_blocks_of_steps_carry_their_labels():
    images = torch.arange(20, dtype=torch.uint8).reshape(20, 1, 1, 1).expand(20, 1, 2, 2).contiguous()
    labels = torch.arange(20) % 7
    sampler = StepBatchSampler(20, 4, 0, 0, 0, 1)
    stream = iter(ResidentBatches(images, sampler, torch.device("cpu"), lambda step: step + 3, labels))
    samples, block_labels = next(stream)
    assert samples.shape == (3, 4, 1, 2, 2) and block_labels.shape == (3, 4)
    # Each image's value is its index, so the labels must be that index mod 7.
    indices = (samples[:, :, 0, 0, 0] * 255).round().long()
    torch.testing.assert_close(block_labels, indices % 7, rtol=0, atol=0)


def test_a_dataset_without_labels_is_refused_naming_the_labelled_ones():
    with pytest.raises(ValueError, match=r"'ring8' has no class labels.*labelled datasets are mnist, fashion_mnist"):
        GANDataModule("ring8", conditional=True)


def test_a_labelled_split_checks_its_labels():
    with pytest.raises(ValueError, match=r"labels must be int64 shaped \(3,\)"):
        LabelledSamples(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.zeros(2, dtype=torch.long))


# -- scores -------------------------------------------------------------------------------------------------------


def test_evaluation_labels_cycle_through_the_classes():
    torch.testing.assert_close(evaluation_labels(7, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0]))
    assert evaluation_labels(7, 0) is None


def test_class_scores_equal_an_independent_float64_computation():
    rng = np.random.default_rng(0)
    classes, dim = 3, 4
    real_labels = rng.permutation(np.repeat(np.arange(classes), [30, 40, 50]))
    real = rng.normal(size=(120, dim)) + real_labels[:, None]
    fake_labels = np.arange(90) % classes
    fake = rng.normal(scale=1.5, size=(90, dim)) + 0.5 * fake_labels[:, None]
    logits = rng.normal(size=(90, classes))
    reference = ClassReference.from_features(torch.from_numpy(real), torch.from_numpy(real_labels), classes)
    metric = ClassConditionalScores(reference)
    for rows in np.array_split(np.arange(90), 7):  # uneven float32 batches: sums must not care
        metric.update(
            torch.from_numpy(fake[rows]).float(),
            torch.from_numpy(logits[rows]).float(),
            torch.from_numpy(fake_labels[rows]),
        )
    scores = {name: float(value) for name, value in metric.compute().items()}
    fake32 = fake.astype(np.float32).astype(np.float64)
    expected = [scipy_frechet(fake32[fake_labels == c], real[real_labels == c]) for c in range(classes)]
    for label in range(classes):
        assert scores[f"intra_fd_class{label}"] == pytest.approx(expected[label], rel=1e-6)
    assert scores["intra_fd_mean"] == pytest.approx(np.mean(expected), rel=1e-6)
    assert scores["intra_fd_worst"] == pytest.approx(max(expected), rel=1e-6)
    consistency = (logits.astype(np.float32).argmax(axis=1) == fake_labels).mean()
    assert scores["class_consistency"] == pytest.approx(consistency, abs=1e-12)
    np.testing.assert_array_equal(reference.counts.numpy(), [30, 40, 50])


def test_too_few_samples_for_a_class_are_named():
    features = torch.randn(20, 4, dtype=torch.float64)
    labels = torch.tensor([0] * 16 + [1] * 4)
    with pytest.raises(InsufficientSamplesError, match="the test images of class 1: 4 samples are too few"):
        ClassReference.from_features(features, labels, 2)
    with pytest.raises(ValueError, match=r"evaluation samples 1000 is too few.*use at least 1290"):
        check_conditional_samples(1000, 10)
    check_conditional_samples(1290, 10)


# -- sweeps -------------------------------------------------------------------------------------------------------


def test_a_conditional_study_is_named_apart_trains_unpacked_and_says_so_in_its_trials():
    settings = SweepSettings(loss="ns_gan", dataset="fashion_mnist", conditional=True)
    assert settings.study_name == "ns_gan-fashion_mnist-wide-conditional"
    assert SweepSettings(loss="ns_gan", dataset="fashion_mnist").study_name == "ns_gan-fashion_mnist-wide"
    assert settings.pack_size("cpu") == settings.pack_size("cuda") == 1
    assert "--data.conditional=true" in shared_trial_arguments(settings)
    with pytest.raises(ValueError, match="pack=4: conditional GANs are not packed"):
        SweepSettings(loss="ns_gan", conditional=True, pack=4)
    with pytest.raises(ValueError, match="use the sweep's --conditional"):
        SweepSettings(loss="ns_gan", trial=("--data.conditional=true",))


# -- a conditional run, end to end ----------------------------------------------------------------------------------


def per_class_scores_by_hand(model: GAN, samples: int) -> dict[str, float]:
    """Class consistency and each class's FD of the model's evaluation samples (the fixed noise, labels i mod 10)
    against every Fashion-MNIST test image of the class, in the domain classifier's features, by numpy/scipy."""
    from lightning_gans.evaluation.features import evaluation_noise
    from lightning_gans.metrics.extractors import build_extractor

    extractor = build_extractor("domain", "fashion_mnist")
    labels = (torch.arange(samples) % 10).numpy()
    with torch.no_grad():
        images = model.sample(evaluation_noise(samples, 64), torch.from_numpy(labels))
        features, logits = (part.double().numpy() for part in extractor(images))
        test_images, test_labels = labelled_split("fashion_mnist", None, "test", False)
        test_features = torch.cat([extractor(batch.float() / 255)[0] for batch in test_images.split(1000)])
    test_features, test_labels = test_features.double().numpy(), test_labels.numpy()
    distances = [scipy_frechet(features[labels == c], test_features[test_labels == c]) for c in range(10)]
    return {
        "class_consistency": float((logits.argmax(axis=1) == labels).mean()),
        "intra_fd_mean": float(np.mean(distances)),
        "intra_fd_worst": float(max(distances)),
        **{f"intra_fd_class{c}": distance for c, distance in enumerate(distances)},
    }


def test_a_conditional_fit_scores_each_class_as_an_independent_computation(quick_domain_classifier, tmp_path):
    import csv

    import yaml
    from PIL import Image

    from lightning_gans.resources import CONFIGS
    from lightning_gans.runs import run
    from lightning_gans.scoring import evaluate_checkpoint

    run(
        [
            "fit",
            "--config", str(CONFIGS / "data" / "fashion_mnist.yaml"),
            "--config", str(CONFIGS / "losses" / "ns_gan.yaml"),
            "--data.conditional", "true",
            "--model.steps", "4",
            "--evaluation.samples", "1290",
            "--evaluation.kid_subset_size", "100",
            "--run.root", str(tmp_path),
            "--run.name", "conditional",
            "--run.wandb", "false",
        ]
    )  # fmt: skip
    run_dir = tmp_path / "conditional" / "version_0"
    assert yaml.safe_load((run_dir / "config.yaml").read_text())["data"]["conditional"] is True
    with (run_dir / "metrics.csv").open() as file:
        logged = next(row for row in csv.DictReader(file) if row.get("eval/class_consistency_domain_n1290"))
    model = GAN.load_from_checkpoint(run_dir / "checkpoints" / "last.ckpt", map_location="cpu")
    assert model.hparams.num_classes == 10
    expected = per_class_scores_by_hand(model, 1290)
    for name, value in expected.items():
        assert float(logged[f"eval/{name}_domain_n1290"]) == pytest.approx(value, rel=1e-4, abs=1e-9), name
    # One row of 8 samples per class: 10 rows of 28 pixels and 2-pixel borders.
    assert Image.open(run_dir / "samples" / "step-00000004.png").size == (8 * 30 + 2, 10 * 30 + 2)
    scored = evaluate_checkpoint(run_dir / "checkpoints" / "last.ckpt", torch.device("cpu")).scores
    assert scored["eval/intra_fd_mean_domain_n1290"] == pytest.approx(float(logged["eval/intra_fd_mean_domain_n1290"]))
    from lightning_gans.commands import sample_command

    exported = tmp_path / "samples.npz"
    assert (
        sample_command(["--ckpt_path", str(run_dir / "checkpoints" / "last.ckpt"), "--n", "12", "--out", str(exported)])
        == 0
    )
    with np.load(exported) as arrays:
        assert arrays["arr_0"].shape == (12, 28, 28, 1)
        np.testing.assert_array_equal(arrays["labels"], np.arange(12) % 10)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--config", "data/ring8.yaml", "--data.conditional", "true"], "'ring8' has no class labels"),
        (["--data.conditional", "true", "--evaluation.samples", "1000"], "evaluation samples 1000 is too few"),
    ],
)
def test_a_conditional_fit_that_cannot_be_scored_or_has_no_labels_fails_before_training(
    tmp_path, capsys, arguments, message
):
    from lightning_gans.resources import CONFIGS
    from lightning_gans.runs import run

    arguments = [str(CONFIGS / value) if value.endswith(".yaml") else value for value in arguments]
    with pytest.raises(SystemExit) as exit_info:
        run(
            [
                "fit",
                "--config", str(CONFIGS / "data" / "fashion_mnist.yaml"),
                "--config", str(CONFIGS / "losses" / "ns_gan.yaml"),
                *arguments,
                "--evaluation.extractor", "domain",
                "--run.root", str(tmp_path),
                "--run.wandb", "false",
            ]
        )  # fmt: skip
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.ckpt"))
