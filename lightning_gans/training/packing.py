"""K networks of one structure as one: grouped layers whose parameters hold the members along their first dimension.

A pack's activations are (B, K, ...): member k's batch is the slice [:, k]. Each layer computes every member's output
in one kernel: a grouped convolution (groups=K) for convolutions, whose (B, K * C, H, W) input is a free view of the
(B, K, C, H, W) activation; a batched matrix product for linear layers; one batch norm over K * C channels, which
keeps each member's statistics apart because batch norm never mixes channels. Every parameter and buffer is the stack
of the members' own, under the members' state_dict keys, so member k's network is `member_state(pack, k)`, loadable
into the ordinary layer it came from.

Why grouped layers and not torch.func's vmap over stacked modules: the layers here are the whole of what the paper's
networks use, they run under ordinary autograd (a gradient penalty differentiates twice; vmap cannot take
torch.autograd.grad inside), batch norm updates its running statistics in place as usual, and torch.compile sees plain
operators. The losses' own math, small per-member reductions, is vmapped (`over_members`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .losses import LossOutput
from .members import MEMBER_DIM
from .nets import Logits, Reshape


class PackedLinear(nn.Module):
    """K linear layers: weight (K, out, in), bias (K, out); (B, K, in) -> (B, K, out)."""

    def __init__(self, layer: nn.Linear, members: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(layer.weight.detach().expand(members, -1, -1).clone())
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().expand(members, -1).clone())

    def forward(self, x: Tensor) -> Tensor:
        by_member = x.transpose(0, 1)  # (K, B, in): a batch of K matrix products
        weight = self.weight.transpose(1, 2)
        out = (
            torch.bmm(by_member, weight) if self.bias is None else torch.baddbmm(self.bias[:, None], by_member, weight)
        )
        return out.transpose(0, 1)


GROUPED_DEVICES = ("cuda",)
"""Devices where a pack's convolutions run as one grouped convolution; elsewhere (a CPU) each member's own."""


class PackedConv(nn.Module):
    """K convolutions (or transposed convolutions) as one grouped convolution over (B, K * C, H, W).

    The weight is held as (K, *one member's weight shape), so that its first dimension is the member as everywhere
    else; the grouped convolution's (K * first, ...) weight is a free view of it.
    """

    def __init__(self, layer: nn.Conv2d | nn.ConvTranspose2d, members: int) -> None:
        super().__init__()
        if layer.groups != 1 or layer.padding_mode != "zeros":
            raise ValueError(f"cannot pack {layer}: only ungrouped, zero-padded convolutions are packed")
        self.transposed = isinstance(layer, nn.ConvTranspose2d)
        self.out_channels = layer.out_channels
        self.options: dict[str, Any] = {"stride": layer.stride, "padding": layer.padding, "dilation": layer.dilation}
        if self.transposed:
            self.options["output_padding"] = layer.output_padding
        self.weight = nn.Parameter(layer.weight.detach().expand(members, *layer.weight.shape).clone())
        self.bias = None if layer.bias is None else nn.Parameter(layer.bias.detach().expand(members, -1).clone())

    def forward(self, x: Tensor) -> Tensor:
        batch, members = x.shape[:2]
        convolution = F.conv_transpose2d if self.transposed else F.conv2d
        if x.device.type not in GROUPED_DEVICES:
            return torch.stack([self._member(convolution, x, member) for member in range(members)], dim=MEMBER_DIM)
        grouped = x.reshape(batch, -1, *x.shape[3:])
        weight = self.weight.reshape(-1, *self.weight.shape[2:])
        bias = None if self.bias is None else self.bias.reshape(-1)
        out = convolution(grouped, weight, bias, groups=members, **self.options)
        return out.view(batch, members, self.out_channels, *out.shape[2:])

    def _member(self, convolution: Any, x: Tensor, member: int) -> Tensor:
        """One member's convolution on its own slice. On a CPU this is what the pack runs: oneDNN's grouped kernels
        were slower than K ungrouped ones (the paper's network lost a fifth per trial at K = 2..16), and a CPU pays
        no launch cost to win back, so the members' own kernels, the ones their lone runs use, serve them."""
        bias = None if self.bias is None else self.bias[member]
        return convolution(x[:, member], self.weight[member], bias, **self.options)


class PackedBatchNorm(nn.Module):
    """K batch norms as one over K * C channels; the running statistics, (K, C), are updated in place as usual."""

    def __init__(self, layer: nn.modules.batchnorm._BatchNorm, members: int) -> None:
        super().__init__()
        if not (layer.affine and layer.track_running_stats and layer.momentum is not None):
            raise ValueError(f"cannot pack {layer}: only affine batch norm with running statistics and a momentum")
        self.eps, self.momentum = layer.eps, layer.momentum
        self.weight = nn.Parameter(layer.weight.detach().expand(members, -1).clone())
        self.bias = nn.Parameter(layer.bias.detach().expand(members, -1).clone())
        self.register_buffer("running_mean", layer.running_mean.expand(members, -1).clone())
        self.register_buffer("running_var", layer.running_var.expand(members, -1).clone())
        self.register_buffer("num_batches_tracked", layer.num_batches_tracked.expand(members).clone())

    def forward(self, x: Tensor) -> Tensor:
        if self.training:
            self.num_batches_tracked.add_(1)
        channels = x.reshape(x.shape[0], -1, *x.shape[3:])
        out = F.batch_norm(
            channels,
            self.running_mean.view(-1),
            self.running_var.view(-1),
            self.weight.view(-1),
            self.bias.view(-1),
            self.training,
            self.momentum,
            self.eps,
        )
        return out.view(x.shape)


class PackedReshape(nn.Module):
    """nets.Reshape per member: (B, K, ...) -> (B, K, *shape)."""

    def __init__(self, layer: Reshape) -> None:
        super().__init__()
        self.shape = layer.shape

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(x.shape[0], x.shape[1], *self.shape)


class PackedFlatten(nn.Module):
    """nn.Flatten() per member: (B, K, ...) -> (B, K, features)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(2)


class PackedLogits(nn.Module):
    """nets.Logits per member: one logit per example and member, (B, K)."""

    def __init__(self, body: nn.Module) -> None:
        super().__init__()
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x).reshape(x.shape[0], x.shape[1])


ELEMENTWISE = (nn.Identity, nn.ReLU, nn.LeakyReLU, nn.Sigmoid, nn.Tanh)
"""Layers without parameters that act on each element: a pack uses them as they are."""


def packed_layer(layer: nn.Module, members: int) -> nn.Module:
    """The packed equivalent of one layer of a backbone; a layer this module does not know is an error."""
    if isinstance(layer, nn.Sequential):
        return nn.Sequential(*(packed_layer(child, members) for child in layer))
    if isinstance(layer, Logits):
        return PackedLogits(packed_layer(layer.body, members))
    if isinstance(layer, nn.Linear):
        return PackedLinear(layer, members)
    if isinstance(layer, nn.Conv2d | nn.ConvTranspose2d):
        return PackedConv(layer, members)
    if isinstance(layer, nn.BatchNorm1d | nn.BatchNorm2d):
        return PackedBatchNorm(layer, members)
    if isinstance(layer, Reshape):
        return PackedReshape(layer)
    if isinstance(layer, nn.Flatten) and layer.start_dim == 1 and layer.end_dim == -1:
        return PackedFlatten()
    if isinstance(layer, ELEMENTWISE):
        return copy.deepcopy(layer)
    known = ["Sequential", "Linear", "Conv2d", "ConvTranspose2d", "BatchNorm1d/2d", "Flatten", "Reshape", "Logits"]
    known += [kind.__name__ for kind in ELEMENTWISE]
    raise TypeError(f"cannot pack layer {type(layer).__name__}; packable layers: {', '.join(known)}")


def pack_networks(networks: Sequence[nn.Module]) -> nn.Module:
    """One network holding `networks` (equal structure) as members 0..K-1, each with its own weights and buffers."""
    states = [network.state_dict() for network in networks]
    keys = states[0].keys()
    for index, (network, state) in enumerate(zip(networks[1:], states[1:], strict=True), start=1):
        shapes = {key: tuple(value.shape) for key, value in state.items()}
        same_layers = repr(network) == repr(networks[0])  # layer types and settings: slopes, strides, eps, shapes
        if not same_layers or shapes != {key: tuple(states[0][key].shape) for key in keys}:
            raise ValueError(f"network {index} of the pack differs in structure from network 0")
    packed = packed_layer(networks[0], len(networks))
    packed.load_state_dict({key: torch.stack([state[key] for state in states]) for key in keys})
    return packed


def member_state(packed: nn.Module, member: int) -> dict[str, Tensor]:
    """Member `member`'s state_dict: its slice of every parameter and buffer, under the ordinary network's keys."""
    return {key: value[member].clone() for key, value in packed.state_dict().items()}


def over_members(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn`, written for one member's tensors, applied to every member of (B, K, ...) tensors in one vmap.

    Outputs come back with the members along MEMBER_DIM, a per-member scalar as a (K,) tensor; a LossOutput stays a
    LossOutput whose total and parts are (K,).
    """

    def mapped(*tensors: Tensor) -> Any:
        returned_loss: list[bool] = []

        def one_member(*member_tensors: Tensor) -> Any:
            out = fn(*member_tensors)
            if isinstance(out, LossOutput):
                returned_loss.append(True)
                return out.total, out.parts
            return out

        result = torch.vmap(one_member, in_dims=MEMBER_DIM, out_dims=0)(*tensors)
        if returned_loss:
            return LossOutput(*result)
        if isinstance(result, tuple):
            return tuple(_members_back(part) for part in result)
        return _members_back(result)

    return mapped


def _members_back(tensor: Tensor) -> Tensor:
    """(K, B, ...) from vmap -> (B, K, ...), the pack's layout; a (K,) result stays as it is."""
    return tensor.movedim(0, MEMBER_DIM) if tensor.ndim > 1 else tensor
