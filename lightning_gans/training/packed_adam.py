"""Adam for a pack: each member (the first dimension of every parameter) with its own lr, betas and step count.

The arithmetic is torch's own Adam, its fused kernel (`torch.optim.Adam(fused=True)`), called once per member with
that member's lr and betas: the same formula as the single-tensor Adam a GAN module runs on a CPU, evaluated in one
pass instead of a dozen (so the last bit may differ; the tests compare to float tolerance). A member left out of a
step (`updating`) keeps its parameters, its moments and its step count, exactly as an Adam that is not stepped. On the
mixtures' MLP the dozen passes over K members' weights were a third of a packed step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

ADAM_EPS = 1e-8
"""torch.optim.Adam's default, which the GAN module's optimisers use."""


def by_member(tensors: list[Tensor]) -> list[list[Tensor]]:
    """[member][tensor]: each member's views of the (K, ...) tensors (one unbind per tensor, not K indexings)."""
    return [list(views) for views in zip(*(tensor.unbind(0) for tensor in tensors), strict=True)]


class PackedAdam(torch.optim.Optimizer):
    """Adam over parameters shaped (K, ...): lr, beta1 and beta2 hold one value per member.

    Each member's slice of the group's parameters is updated by one call of torch's fused Adam kernel with that
    member's own scalars: one pass over its parameters, gradients and moments. A member's slices are contiguous views,
    so it is updated in place, and a member left out of a step is simply not called.
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: Sequence[float],
        beta1: Sequence[float],
        beta2: Sequence[float],
        eps: float = ADAM_EPS,
    ) -> None:
        super().__init__(params, {"lr": list(lr), "beta1": list(beta1), "beta2": list(beta2), "eps": eps})
        self._views: dict[int, tuple[tuple[int, ...], list[list[list[Tensor]]]]] = {}

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None, updating: Sequence[bool] | None = None) -> float | None:
        """One Adam step of the members `updating` marks (all of them when None)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            parameters = [parameter for parameter in group["params"] if parameter.grad is not None]
            if parameters:
                self._update(parameters, group, updating)
        return loss

    def _update(self, parameters: list[Tensor], group: dict, updating: Sequence[bool] | None) -> None:
        states = [self._state_of(parameter) for parameter in parameters]
        size = parameters[0].shape[0]
        members = list(range(size)) if updating is None else [index for index in range(size) if updating[index]]
        for state in states:
            if len(members) == size:
                state["step"] += 1
            else:
                state["step"][members] += 1
        params, exp_avgs, exp_avg_sqs, steps = self._member_views(parameters, states)
        grads = by_member([parameter.grad for parameter in parameters])  # new tensors at every step
        for member in members:
            torch._fused_adam_(
                params[member],
                grads[member],
                exp_avgs[member],
                exp_avg_sqs[member],
                [],
                steps[member],
                lr=group["lr"][member],
                beta1=group["beta1"][member],
                beta2=group["beta2"][member],
                weight_decay=0.0,
                eps=group["eps"],
                amsgrad=False,
                maximize=False,
            )

    def _member_views(self, parameters: list[Tensor], states: list[dict[str, Tensor]]) -> list[list[list[Tensor]]]:
        """Each member's views of the parameters and of their Adam state, kept while those tensors are the same ones
        (they are updated in place; a move to another device or a loaded state makes new ones)."""
        tensors = [parameters, *([state[name] for state in states] for name in ("exp_avg", "exp_avg_sq", "step"))]
        key = tuple(tensor.data_ptr() for group in tensors for tensor in group)
        cached = self._views.get(id(parameters[0]))
        if cached is None or cached[0] != key:
            cached = (key, [by_member(group) for group in tensors])
            self._views[id(parameters[0])] = cached
        return cached[1]

    def _state_of(self, parameter: Tensor) -> dict[str, Tensor]:
        state = self.state[parameter]
        if not state:
            state["step"] = torch.zeros(parameter.shape[0], dtype=torch.float32, device=parameter.device)
            state["exp_avg"] = torch.zeros_like(parameter)
            state["exp_avg_sq"] = torch.zeros_like(parameter)
        return state


def member_adam_state(optimizer: PackedAdam, member: int, adam_state: dict) -> dict:
    """Member `member`'s part in the format of `adam_state`, the state_dict of its own torch.optim.Adam.

    Adam numbers parameters in order and keeps `step` as a float32 scalar tensor; its param_groups (lr, betas and
    Adam's other settings) come from the member's own optimiser, so they are what the GAN module would save.
    """
    parameters = [parameter for group in optimizer.param_groups for parameter in group["params"]]
    state = {}
    for index, parameter in enumerate(parameters):
        own = optimizer.state.get(parameter)
        if own:
            state[index] = {
                "step": own["step"][member].to(device="cpu", dtype=torch.float32, copy=True),
                "exp_avg": own["exp_avg"][member].clone(),
                "exp_avg_sq": own["exp_avg_sq"][member].clone(),
            }
    return {**adam_state, "state": state}
