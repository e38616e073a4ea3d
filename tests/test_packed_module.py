"""A pack trained through Lightning against its members trained alone: every member must end where its own run ends.

Each member differs from the others in its seed (initial weights, noise, data stream) and in every per-member
hyperparameter (lr, betas, n_disc, the loss knobs), so a pack that mixed members up, or shared a schedule, a random
stream or a knob, would move some member off its own run. Training runs in float64, where the only difference a
packed kernel may make is summation order.
"""

import functools
import itertools
from dataclasses import dataclass

import lightning.pytorch as pl
import pytest
import torch
from torch import nn

from lightning_gans.data import GANDataModule
from lightning_gans.data.packs import PackedDataModule
from lightning_gans.training.losses import LOSSES
from lightning_gans.training.module import GAN, DivergedError, generator_updates
from lightning_gans.training.packed_module import PackedGAN

SEEDS = [11, 22, 33]
VARIANTS = [
    {"lr": 1e-3, "beta1": 0.5, "n_disc": 1, "clip": 0.01, "gp_lambda": 10.0, "began_gamma": 0.75},
    {
        "lr": 3e-4,
        "beta1": 0.9,
        "beta2": 0.99,
        "n_disc": 2,
        "clip": 0.05,
        "gp_lambda": 1.0,
        "began_gamma": 0.5,
        "began_lambda_k": 0.01,
    },
    # Only the 2-D runs have a member 2: the MLP pair has no batch norm, so its d_batch_norm may differ in a pack.
    {
        "lr": 2e-3,
        "beta1": 0.0,
        "n_disc": 3,
        "clip": 0.1,
        "gp_lambda": 0.1,
        "began_gamma": 0.3,
        "began_clip_k": True,
        "d_batch_norm": False,
    },
]
K = len(SEEDS)
STEPS = 9
"""The last step (8) updates no generator of members 1 and 2 (n_disc 2 and 3): their logged generator losses must
be those of their latest update, as a lone run keeps them."""
VAE_STEPS = 4
"""The VAE's runs on the 2-D mixture are ill-conditioned (likely its Bernoulli likelihood of points outside [0, 1]),
member 2's most, whose Adam has no momentum (beta1 0) to average rounding out: nudging its own initial weights by
2e-16 (relative) moves its lone run by 1e-13 after 4 steps and by 3e-11 after 8. Rounding, not the pack, would fail
a 1e-12 comparison over STEPS, so the VAE is compared over 4."""
CHECK_EVERY = 3
"""Divergence is looked at every 3 steps, so a member that diverges at step 2 is caught at step 3: the step a pack
reports must be the exact one, as a GAN's DivergedError reports it, not the step of the check."""


pytestmark = pytest.mark.usefixtures("one_thread")


@dataclass(frozen=True)
class Setting:
    backbone: str
    sample_shape: tuple[int, ...]
    batch_size: int
    members: int
    steps: int | None = None
    """None: STEPS (VAE_STEPS for the VAE)."""


SETTINGS = {
    "ring8": Setting("mlp", (2,), 16, K),
    # The paper's network is slow on a CPU in float64: two members (n_disc 1 and 2), three steps (at step 2 the
    # second member skips its generator update, so its batch norm statistics must be put back).
    "fashion_mnist": Setting("infogan", (1, 28, 28), 8, 2, steps=3),
}


def steps_for(loss: str, dataset: str = "ring8") -> int:
    return SETTINGS[dataset].steps or (VAE_STEPS if loss == "vae" else STEPS)


def build(loss: str, index: int, dataset: str = "ring8", **changes: object) -> GAN:
    """Member `index` as its own run builds it: seeded first, so its initial weights and noise are its seed's."""
    setting = SETTINGS[dataset]
    arguments = {
        "backbone": setting.backbone,
        "sample_shape": setting.sample_shape,
        "steps": steps_for(loss, dataset),
        "z_dim": 8,
        "check_finite_every": CHECK_EVERY,
        **VARIANTS[index],
        **({"n_disc": 1} if loss == "vae" else {}),
        **changes,
    }
    torch.manual_seed(SEEDS[index])
    return GAN(loss=loss, **arguments)


@functools.cache
def train_split(dataset: str) -> object:
    return GANDataModule(dataset).split("train")


def data(index: int, dataset: str = "ring8") -> GANDataModule:
    module = GANDataModule(dataset, batch_size=SETTINGS[dataset].batch_size, seed=SEEDS[index])
    module._splits["train"] = train_split(dataset)  # read once for all the runs, as a pack's members share it
    return module


def fit(module: pl.LightningModule, datamodule: GANDataModule, *callbacks: pl.Callback) -> pl.Trainer:
    trainer = pl.Trainer(
        precision="64-true",
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_epochs=-1,
        log_every_n_steps=1,
        callbacks=list(callbacks),
    )
    trainer.fit(module, datamodule=datamodule)
    return trainer


class Poison(pl.Callback):
    """Sets the discriminator weights of `members` of a pack (all of a lone GAN's when None) to NaN after step
    `after`, so that the next step's losses are NaN: a divergence at step `after`."""

    def __init__(self, after: int, members: list[int] | None = None) -> None:
        self.after = after
        self.members = members

    @torch.no_grad()
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
        if module.d_step != self.after:
            return
        for parameter in module.discriminator.parameters():
            for index in [slice(None)] if self.members is None else self.members:
                parameter[index] = float("nan")


@dataclass(frozen=True)
class Lone:
    """What a member's own run ended with."""

    module: GAN
    losses: dict[str, torch.Tensor]
    adam_steps: tuple[set[int], set[int]]
    """The step counts of its discriminator's and generator's Adam, over their parameters."""


def lone_run(loss: str, index: int, dataset: str = "ring8") -> Lone:
    module = build(loss, index, dataset)
    trainer = fit(module, data(index, dataset))
    adam_steps = tuple({int(state["step"]) for state in optimizer.state.values()} for optimizer in trainer.optimizers)
    return Lone(module, dict(trainer.callback_metrics), adam_steps)


def packed_run(loss: str, dataset: str = "ring8", *callbacks: pl.Callback) -> PackedGAN:
    members = range(SETTINGS[dataset].members)
    pack = PackedGAN([build(loss, index, dataset) for index in members])
    fit(pack, PackedDataModule.of_members([data(index, dataset) for index in members]), *callbacks)
    return pack


# The 2-D runs are shared by the tests that look at them (a few kilobytes each); the image runs are not kept.
lone = functools.cache(lone_run)
packed = functools.cache(packed_run)


def differences(pack: PackedGAN, index: int, alone: GAN) -> dict[str, float]:
    """Largest absolute difference of every parameter and buffer (BEGAN's k included) of member `index`."""
    state, own = pack.member(index).state_dict(), alone.state_dict()
    assert state.keys() == own.keys()
    return {name: (value.double() - own[name].double()).abs().max().item() for name, value in state.items()}


def assert_member_is_its_own_run(pack: PackedGAN, index: int, alone: GAN) -> None:
    differing = {name: diff for name, diff in differences(pack, index, alone).items() if not diff <= 1e-12}
    assert not differing, f"member {index}: {differing}"
    assert pack.member(index).d_step == alone.d_step


@pytest.mark.parametrize("loss", list(LOSSES))
def test_every_member_trains_as_its_own_run(loss):
    pack = packed(loss)
    assert pack.d_step == steps_for(loss)
    for index in range(K):
        alone = lone(loss, index)
        assert_member_is_its_own_run(pack, index, alone.module)
        torch.testing.assert_close(pack.began_k[index], alone.module.began_k, rtol=0, atol=1e-12)
        # the last step logs: each member's (K,) losses are those its own run handed to Lightning
        assert pack.logged_losses.keys() == alone.losses.keys()
        for name, value in pack.logged_losses.items():
            assert value.shape == (K,)
            torch.testing.assert_close(value[index], alone.losses[name], rtol=0, atol=1e-12, msg=name)
    if loss == "began":  # the knobs gave the members different k: a shared k would not pass
        assert len(set(pack.began_k.tolist())) == K


@pytest.mark.parametrize("loss", list(LOSSES))
def test_each_member_keeps_its_own_schedule_and_adam_step_counts(loss):
    pack = packed(loss)
    d_adam, g_adam = pack.trainer.optimizers
    for index in range(K):
        own_d, own_g = lone(loss, index).adam_steps
        assert {state["step"][index].item() for state in d_adam.state.values()} == own_d == {steps_for(loss)}
        assert {state["step"][index].item() for state in g_adam.state.values()} == own_g
        assert own_g == {generator_updates(steps_for(loss), pack.members[index].hparams.n_disc)}
    if loss != "vae":
        assert [member.hparams.n_disc for member in pack.members] == [1, 2, 3]


def biases_feeding_batch_norm(module: nn.Module) -> set[str]:
    """state_dict names of the biases of layers directly followed by a batch norm, which cancels them."""
    names = set()
    for prefix, sequence in module.named_modules():
        if isinstance(sequence, nn.Sequential):
            for (name, layer), (_, following) in itertools.pairwise(sequence.named_children()):
                if isinstance(following, nn.modules.batchnorm._BatchNorm) and getattr(layer, "bias", None) is not None:
                    names.add(f"{prefix}.{name}.bias".lstrip("."))
    return names


@pytest.mark.parametrize("loss", ["wgan_gp", "began"])
def test_members_of_the_papers_network_train_as_their_own_runs(loss):
    """The paper's network (InfoGAN-style, with batch norm) on Fashion-MNIST, a few steps in float64.

    Parameters agree within 1e-8, and all but one kind within 1e-10. The exception: a bias directly followed by a
    batch norm gets a gradient that is mathematically zero (the batch norm subtracts the batch mean, which the bias
    only shifts), and what the float arithmetic leaves of it is rounding noise, different for a grouped kernel and a
    member's own. Adam divides that noise by its own tiny second moment plus eps (update ~ lr * noise / 1e-8), so these
    inert parameters wander ~1e-9 apart, while everything else agrees to ~1e-12.
    """
    pack = packed_run(loss, "fashion_mnist")
    assert pack.d_step == steps_for(loss, "fashion_mnist")
    for index in range(pack.size):
        alone = lone_run(loss, index, "fashion_mnist").module
        inert = biases_feeding_batch_norm(alone)
        assert {"generator.0.bias", "generator.3.bias"} <= inert
        diffs = differences(pack, index, alone)
        assert inert <= diffs.keys()
        loose = {name: diff for name, diff in diffs.items() if name in inert and not diff <= 1e-8}
        tight = {name: diff for name, diff in diffs.items() if name not in inert and not diff <= 1e-10}
        assert not loose and not tight, f"member {index}: {loose} {tight}"


DIVERGING = 1
POISON_AFTER = 2


@pytest.mark.parametrize("loss", ["wgan_gp", "began", "vae"])
def test_a_diverged_member_leaves_the_others_untouched(loss):
    with pytest.raises(DivergedError) as caught:
        fit(build(loss, DIVERGING), data(DIVERGING), Poison(POISON_AFTER))
    alone = caught.value
    assert alone.step == POISON_AFTER  # caught at the check of step CHECK_EVERY, reported at the step it happened
    pack = packed_run(loss, "ring8", Poison(POISON_AFTER, [DIVERGING]))
    assert list(pack.divergences) == [DIVERGING]
    assert (pack.divergences[DIVERGING].step, pack.divergences[DIVERGING].what) == (alone.step, alone.what)
    assert pack.running == [index != DIVERGING for index in range(K)]
    assert pack.d_step == steps_for(loss)  # the others trained on to the end
    for index in range(K):
        if index != DIVERGING:
            assert_member_is_its_own_run(pack, index, lone(loss, index).module)
    for tensor in (*pack.parameters(), *pack.buffers()):  # the stopped member's NaNs are gone (zeroed)
        assert torch.isfinite(tensor).all()
    stopped = pack.member(DIVERGING)  # zeroed when it was stopped, and not updated since
    assert not any(parameter.any() for parameter in stopped.parameters())
    assert stopped.began_k == 0


def test_a_pack_stops_when_every_member_diverged():
    pack = packed_run("ns_gan", "ring8", Poison(POISON_AFTER))
    assert pack.running == [False] * K
    assert {index: error.step for index, error in pack.divergences.items()} == dict.fromkeys(range(K), POISON_AFTER)
    assert pack.d_step == CHECK_EVERY  # the first check after the divergence, not STEPS
    assert pack.trainer.should_stop


@pytest.mark.parametrize(
    ("field", "loss", "changes", "dataset"),
    [
        ("loss", "wgan", {}, "ring8"),
        ("backbone", "ns_gan", {"backbone": "dcgan", "sample_shape": (3, 32, 32)}, "ring8"),
        ("d_batch_norm", "ns_gan", {"d_batch_norm": False}, "fashion_mnist"),  # the paper's pair has batch norm
        ("steps", "ns_gan", {"steps": STEPS + 1}, "ring8"),
        ("z_dim", "ns_gan", {"z_dim": 4}, "ring8"),
    ],
)
def test_members_of_different_structure_are_refused(field, loss, changes, dataset):
    members = [build("ns_gan", index, dataset) for index in range(2)]
    members.append(build(loss, 0, dataset, **changes))
    with pytest.raises(ValueError, match=f"member 2 of the pack has {field}="):
        PackedGAN(members)


@pytest.mark.parametrize("option", ["channels_last", "compile"])
def test_unpackable_options_are_refused(option):
    members = [build("ns_gan", index) for index in range(K)]
    # what GAN(compile=True) records; building one would import torch._dynamo, seconds of a test's time
    members[1].hparams[option] = True
    with pytest.raises(ValueError, match=f"{option}=True is not supported in a pack"):
        PackedGAN(members)
