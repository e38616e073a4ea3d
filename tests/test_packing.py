"""A pack's parts, one by one: packed layers, the per-member loss map, random streams, PackedAdam, packed data.

Each part must compute, for every member k, exactly what member k's own network, loss, generator, Adam or data
module computes alone; these tests compare against that member's own computation, in float64 where exactness is the
claim (summation order is the only difference a packed kernel may make).
"""

import copy
import itertools

import pytest
import torch
from torch import nn

from lightning_gans.data import GANDataModule
from lightning_gans.data.packs import PackedDataModule
from lightning_gans.training import losses, packing
from lightning_gans.training.losses import LossOutput
from lightning_gans.training.members import MemberGenerators, random_like
from lightning_gans.training.nets import build_networks
from lightning_gans.training.packed_adam import PackedAdam, member_adam_state
from lightning_gans.training.packing import member_state, over_members, pack_networks

K = 3
BATCH = 4
Z_DIM = 8
BACKBONES = {"infogan": (1, 28, 28), "dcgan": (3, 32, 32), "mlp": (2,)}
DISCRIMINATORS = {"plain": (False, False), "began_autoencoder": (True, False), "vae_encoder": (False, True)}


pytestmark = pytest.mark.usefixtures("one_thread")


def assert_states_equal(state: dict, expected: dict) -> None:
    """Same keys, shapes and dtypes; values within 1e-12 (exact for integer counters). Cheaper than assert_close
    on the image networks' millions of weights."""
    assert state.keys() == expected.keys()
    for key, value in state.items():
        assert (value.shape, value.dtype) == (expected[key].shape, expected[key].dtype), key
        if not torch.equal(value, expected[key]):  # equal mostly, and much cheaper than a difference
            assert value.is_floating_point() and (value - expected[key]).abs().max() <= 1e-12, key


@torch.no_grad()
def made_distinct(network: nn.Module, seed: int) -> nn.Module:
    """`network` in float64 with its biases, batch norm weights and statistics moved off their init, differently per
    seed: members that start alike (zero biases, unit batch norm weights) could not show a member mixed up with
    another. Their weight matrices differ already, drawn from their seeds."""
    generator = torch.Generator().manual_seed(1000 + seed)
    network.double()
    for parameter in network.parameters():
        if parameter.ndim == 1:
            parameter.add_(0.02 * torch.randn(parameter.shape, generator=generator, dtype=parameter.dtype))
    for layer in network.modules():
        if isinstance(layer, nn.modules.batchnorm._BatchNorm):
            layer.running_mean.normal_(0, 0.1, generator=generator)
            layer.running_var.uniform_(0.5, 1.5, generator=generator)
            layer.num_batches_tracked.fill_(seed)
    return network


def member_networks(backbone: str, discriminator: str) -> dict[str, list[nn.Module]]:
    """K distinct (generator, discriminator) pairs of one backbone and discriminator kind, by network role."""
    pairs = []
    for seed in range(K):
        torch.manual_seed(seed)
        pairs.append(build_networks(backbone, BACKBONES[backbone], Z_DIM, True, *DISCRIMINATORS[discriminator]))
    return {
        role: [made_distinct(getattr(pair, role), seed) for seed, pair in enumerate(pairs)]
        for role in ("generator", "discriminator")
    }


@pytest.mark.parametrize("grouped", [False, True], ids=["members' own convolutions", "grouped convolutions"])
@pytest.mark.parametrize("discriminator", DISCRIMINATORS)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_packed_networks_compute_each_members_own_output(backbone, discriminator, grouped, monkeypatch):
    """Both ways a pack convolves: each member's own kernel (a CPU's) and one grouped kernel (a GPU's, run here)."""
    monkeypatch.setattr(packing, "GROUPED_DEVICES", ("cuda", "cpu") if grouped else ("cuda",))
    inputs = torch.Generator().manual_seed(0)
    batches = {
        "generator": torch.rand(BATCH, K, Z_DIM, generator=inputs, dtype=torch.float64) * 2 - 1,
        "discriminator": torch.rand(BATCH, K, *BACKBONES[backbone], generator=inputs, dtype=torch.float64),
    }
    for role, networks in member_networks(backbone, discriminator).items():
        packed = pack_networks(networks)
        for index, network in enumerate(networks):
            state = member_state(packed, index)
            assert_states_equal(state, network.state_dict())
            loaded = copy.deepcopy(network)
            loaded.load_state_dict(state)  # strict: the keys are the ordinary network's
            assert_states_equal(loaded.state_dict(), network.state_dict())
        x = batches[role]
        for training in (True, False):  # batch statistics (moving the running ones), then the running ones
            packed.train(training)
            own = [network.train(training)(x[:, index]) for index, network in enumerate(networks)]
            out = packed(x)
            assert out.shape == (BATCH, K, *own[0].shape[1:])
            torch.testing.assert_close(out, torch.stack(own, dim=1), rtol=0, atol=1e-12, msg=f"{role} {training}")
            for index, network in enumerate(networks if training else []):  # running statistics each forward left
                assert_states_equal(member_state(packed, index), network.state_dict())


@pytest.mark.parametrize(
    ("layer", "error", "named"),
    [
        (nn.GELU(), TypeError, "cannot pack layer GELU"),
        (nn.Dropout(), TypeError, "cannot pack layer Dropout"),
        (nn.Flatten(start_dim=2), TypeError, "cannot pack layer Flatten"),
        (nn.Conv2d(2, 2, 3, groups=2), ValueError, "cannot pack Conv2d"),
        (nn.BatchNorm1d(2, affine=False), ValueError, "cannot pack BatchNorm1d"),
    ],
)
def test_unknown_layers_are_refused_by_name(layer, error, named):
    network = nn.Sequential(nn.Identity(), layer)
    with pytest.raises(error, match=named):
        pack_networks([network, copy.deepcopy(network)])


def test_members_of_different_shapes_are_refused():
    small, large = (build_networks("mlp", (2,), z_dim, True, False).generator for z_dim in (8, 4))
    with pytest.raises(ValueError, match="network 2 of the pack differs in structure from network 0"):
        pack_networks([small, small, large])


@pytest.mark.parametrize(
    ("first", "other"),
    [
        (nn.ReLU(), nn.Tanh()),
        (nn.LeakyReLU(0.2), nn.LeakyReLU(0.1)),
        (nn.BatchNorm1d(2), nn.BatchNorm1d(2, eps=1e-3)),
    ],
    ids=["activation", "slope", "batch norm eps"],
)
def test_members_of_equal_shapes_but_different_layers_are_refused(first, other):
    networks = [nn.Sequential(nn.Linear(2, 2), layer) for layer in (first, other)]
    with pytest.raises(ValueError, match="network 1 of the pack differs in structure"):
        pack_networks(networks)


def members_of(*shapes: tuple[int, ...]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return [torch.randn(BATCH, K, *shape, generator=generator, dtype=torch.float64) for shape in shapes]


@pytest.mark.parametrize(
    ("fn", "shapes"),
    [
        (losses.gan_discriminator_loss, [(), ()]),
        (losses.wgan_generator_loss, [()]),
        (losses.began_reconstruction_error, [(3, 4, 4), (3, 4, 4)]),
        (losses.penalty_of_gradients, [(3, 4, 4)]),
    ],
)
def test_over_members_reduces_each_members_slice(fn, shapes):
    tensors = members_of(*shapes)
    out = over_members(fn)(*tensors)
    own = [fn(*(tensor[:, index] for tensor in tensors)) for index in range(K)]
    if isinstance(own[0], LossOutput):
        assert isinstance(out, LossOutput)
        assert out.parts.keys() == own[0].parts.keys()
        pairs = [(out.total, [o.total for o in own])]
        pairs += [(out.parts[name], [o.parts[name] for o in own]) for name in out.parts]
    else:
        pairs = [(out, own)]
    for packed, alone in pairs:
        assert packed.shape == (K,)
        torch.testing.assert_close(packed, torch.stack(alone), rtol=0, atol=1e-15)


@pytest.mark.parametrize(
    ("fn", "shapes"), [(losses.encoder_posterior, [(2 * Z_DIM,)]), (losses.perturbed_by, [(2,), (2,)])]
)
def test_over_members_keeps_per_example_outputs_by_member(fn, shapes):
    tensors = members_of(*shapes)
    out = over_members(fn)(*tensors)
    own = [fn(*(tensor[:, index] for tensor in tensors)) for index in range(K)]
    outs, owns = (out, zip(*own, strict=True)) if isinstance(out, tuple) else ((out,), [own])
    for packed, alone in zip(outs, owns, strict=True):
        assert packed.shape == (BATCH, K, *alone[0].shape[1:])
        torch.testing.assert_close(packed, torch.stack(alone, dim=1), rtol=0, atol=1e-15)


@pytest.mark.parametrize("normal", [False, True])
@pytest.mark.parametrize("per_example", [False, True])
def test_random_like_draws_each_member_from_its_own_generator(per_example, normal):
    seeds = [5, 6, 7]
    like = torch.empty(BATCH, K, 3, 4, dtype=torch.float64)
    pack = MemberGenerators([torch.Generator().manual_seed(seed) for seed in seeds])
    alone = [torch.Generator().manual_seed(seed) for seed in seeds]
    for _ in range(2):  # the second draw checks that each stream advanced as it would alone
        drawn = random_like(like, pack, per_example=per_example, normal=normal)
        assert drawn.shape == ((BATCH, K, 1, 1) if per_example else like.shape)
        assert drawn.dtype == like.dtype
        for index, generator in enumerate(alone):
            own = random_like(like[:, index], generator, per_example=per_example, normal=normal)
            assert torch.equal(drawn[:, index], own)
    assert not torch.equal(drawn[:, 0], drawn[:, 1])


ADAM = {"lr": [1e-3, 3e-4, 2e-2], "beta1": [0.5, 0.9, 0.0], "beta2": [0.999, 0.99, 0.9]}
UPDATING = [(1, 1, 1), (1, 0, 1), (0, 1, 1), (1, 1, 0), (1, 1, 1), (0, 0, 1), (1, 0, 1)]
PARAMETER_SHAPES = [(5, 4), (7,), ()]


def own_adam(parameters: list[torch.Tensor], index: int) -> torch.optim.Adam:
    betas = (ADAM["beta1"][index], ADAM["beta2"][index])
    return torch.optim.Adam(parameters, lr=ADAM["lr"][index], betas=betas)


def adam_runs(dtype: torch.dtype) -> tuple:
    """A PackedAdam and K torch Adams stepped with the same gradients; member k's Adam steps where UPDATING says."""
    draws = torch.Generator().manual_seed(3)
    initial = [torch.randn(K, *shape, generator=draws, dtype=dtype) for shape in PARAMETER_SHAPES]
    packed_parameters = [nn.Parameter(value.clone()) for value in initial]
    packed = PackedAdam(packed_parameters, **ADAM)
    own_parameters = [[nn.Parameter(value[index].clone()) for value in initial] for index in range(K)]
    own = [own_adam(parameters, index) for index, parameters in enumerate(own_parameters)]
    for updating in UPDATING:
        gradients = [torch.randn(K, *shape, generator=draws, dtype=dtype) for shape in PARAMETER_SHAPES]
        for parameter, gradient in zip(packed_parameters, gradients, strict=True):
            parameter.grad = gradient.clone()
        packed.step(updating=None if all(updating) else list(updating))
        for index, optimizer in enumerate(own):
            for parameter, gradient in zip(own_parameters[index], gradients, strict=True):
                parameter.grad = gradient[index].clone()
            if updating[index]:
                optimizer.step()
    return packed, packed_parameters, own, own_parameters


ADAM_ULPS = 4
"""How far PackedAdam may be from torch Adam after the 7 steps, in ulp of max(|value|, the member's lr).

Not bitwise: PackedAdam runs torch's fused Adam kernel per member (one pass), a GAN module's Adam the single-tensor
path (a dozen operations), and the two round their intermediate results differently. A step moves an element by
about lr, so an element that Adam moved across zero keeps the rounding of numbers of size lr: the ulp is taken at lr
there, not at the tiny value itself."""


def assert_adam_close(packed: torch.Tensor, own: torch.Tensor, index: int) -> None:
    scale = own.abs().clamp(min=ADAM["lr"][index])
    ulp = torch.nextafter(scale, torch.tensor(float("inf"), dtype=scale.dtype)) - scale
    assert ((packed - own).abs() <= ADAM_ULPS * ulp).all(), ((packed - own).abs() / ulp).max()


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_packed_adam_steps_each_member_as_its_own_adam(dtype):
    packed, packed_parameters, own, own_parameters = adam_runs(dtype)
    for index in range(K):
        steps = sum(updating[index] for updating in UPDATING)
        for packed_parameter, parameter in zip(packed_parameters, own_parameters[index], strict=True):
            assert_adam_close(packed_parameter[index].detach(), parameter.detach(), index)
            assert packed.state[packed_parameter]["step"][index].item() == steps
            assert own[index].state[parameter]["step"].item() == steps


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_member_adam_state_loads_into_the_members_adam(dtype):
    packed, packed_parameters, own, _ = adam_runs(dtype)
    draws = torch.Generator().manual_seed(4)
    gradients = [torch.randn(K, *shape, generator=draws, dtype=dtype) for shape in PARAMETER_SHAPES]
    restored = []
    for index in range(K):
        parameters = [nn.Parameter(parameter[index].detach().clone()) for parameter in packed_parameters]
        optimizer = own_adam(parameters, index)
        state = member_adam_state(packed, index, optimizer.state_dict())
        assert state["param_groups"] == own[index].state_dict()["param_groups"]
        optimizer.load_state_dict(state)
        for parameter, gradient in zip(parameters, gradients, strict=True):
            parameter.grad = gradient[index].clone()
        optimizer.step()
        restored.append(parameters)
    for parameter, gradient in zip(packed_parameters, gradients, strict=True):
        parameter.grad = gradient.clone()
    packed.step()
    for index, parameters in enumerate(restored):
        steps = sum(updating[index] for updating in UPDATING) + 1
        for packed_parameter, parameter in zip(packed_parameters, parameters, strict=True):
            assert_adam_close(packed_parameter[index].detach(), parameter.detach(), index)
            assert packed.state[packed_parameter]["step"][index].item() == steps


SEEDS = [11, 22, 33]


def ring8(seed: int, **differing: object) -> GANDataModule:
    return GANDataModule(**{"name": "ring8", "batch_size": 8, "seed": seed, **differing})


@pytest.mark.parametrize(("dataset", "sample_shape"), [("ring8", (2,)), ("fashion_mnist", (1, 28, 28))])
def test_packed_data_serves_each_members_own_stream(dataset, sample_shape):
    members = [GANDataModule(dataset, batch_size=8, seed=seed) for seed in SEEDS]
    packed = PackedDataModule.of_members(members)
    packed.setup("fit")
    batches = list(itertools.islice(packed.train_dataloader(), 4))
    for member in members:
        member.setup("fit")
    own = [list(itertools.islice(member.train_dataloader(), 4)) for member in members]
    assert len(batches) == 4
    for step, batch in enumerate(batches):
        assert batch.shape == (8, K, *sample_shape)
        for index in range(K):
            assert torch.equal(batch[:, index], own[index][step])
    assert not torch.equal(batches[0][:, 0], batches[0][:, 1])  # the seeds do make different streams


@pytest.mark.parametrize(
    ("field", "differing"),
    [("spec", {"name": "grid25"}), ("batch_size", {"batch_size": 16}), ("on_device", {"on_device": False})],
)
def test_packed_data_refuses_members_differing_beyond_the_seed(field, differing):
    members = [ring8(seed) for seed in SEEDS]
    members[2] = ring8(SEEDS[2], **differing)
    with pytest.raises(ValueError, match=f"member 2 of the pack reads its data with {field}="):
        PackedDataModule.of_members(members)
