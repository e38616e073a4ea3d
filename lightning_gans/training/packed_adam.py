"""Adam for a pack: each member (the first dimension of every parameter) with its own lr, betas and step count.

The arithmetic is torch.optim.Adam's single-tensor path (the one it takes on a CPU), operation for operation (its
fused multiply-adds included, so that on a CPU a member's parameters are Adam's bit for bit), with the scalars that
Adam computes in Python's float64 (bias corrections, step size) computed here in float64 per member and rounded to
the parameters' dtype where Adam rounds them. A member left out of a step (`updating`) keeps its parameters, its
moments and its step count, exactly as an Adam that is not stepped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor

ADAM_EPS = 1e-8
"""torch.optim.Adam's default, which the GAN module's optimisers use."""


def per_member(values: Tensor, like: Tensor) -> Tensor:
    """(K,) values shaped to broadcast against a (K, ...) parameter, in its dtype."""
    return values.to(like.dtype).reshape(-1, *(1,) * (like.ndim - 1))


class PackedAdam(torch.optim.Optimizer):
    """Adam over parameters shaped (K, ...): lr, beta1 and beta2 hold one value per member.

    They are kept in float64, as the Python floats Adam computes with (a float32 copy of 0.999 is not 0.999).
    """

    def __init__(
        self,
        params: Iterable[Tensor],
        lr: Sequence[float],
        beta1: Sequence[float],
        beta2: Sequence[float],
        eps: float = ADAM_EPS,
    ) -> None:
        exact = {
            name: torch.tensor(values, dtype=torch.float64)
            for name, values in (("lr", lr), ("beta1", beta1), ("beta2", beta2))
        }
        super().__init__(params, {**exact, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None, updating: Tensor | None = None) -> float | None:
        """One Adam step of the members `updating` marks (a (K,) bool tensor; all of them when None).

        Every parameter of a group has the same step counts, so the per-member scalars are computed once per group
        and each operation runs over all of the group's parameters in one call (torch._foreach_*): on a small
        network the step is Python and dispatch, not arithmetic.
        """
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            parameters = [parameter for parameter in group["params"] if parameter.grad is not None]
            if parameters:
                self._update(parameters, group, updating)
        return loss

    def _update(self, parameters: list[Tensor], group: dict, updating: Tensor | None) -> None:
        states = [self._state_of(parameter) for parameter in parameters]
        first = parameters[0]
        lr, beta1, beta2 = (group[name].to(first.device) for name in ("lr", "beta1", "beta2"))
        step = states[0]["step"] + (1.0 if updating is None else updating.to(torch.float64))
        scalars = {
            "one_minus_beta1": 1 - beta1,
            "beta2": beta2,
            "one_minus_beta2": 1 - beta2,
            "step_size": lr / (1 - beta1**step),
            "bias_correction2_sqrt": (1 - beta2**step) ** 0.5,
        }
        shaped = {name: [per_member(value, parameter) for parameter in parameters] for name, value in scalars.items()}
        grads = [parameter.grad for parameter in parameters]
        exp_avgs = torch._foreach_lerp([state["exp_avg"] for state in states], grads, shaped["one_minus_beta1"])
        exp_avg_sqs = torch._foreach_mul([state["exp_avg_sq"] for state in states], shaped["beta2"])
        torch._foreach_addcmul_(exp_avg_sqs, torch._foreach_mul(grads, shaped["one_minus_beta2"]), grads)
        denominators = torch._foreach_div(torch._foreach_sqrt(exp_avg_sqs), shaped["bias_correction2_sqrt"])
        torch._foreach_add_(denominators, group["eps"])
        steps = torch._foreach_mul(exp_avgs, shaped["step_size"])
        updated = torch._foreach_addcdiv(parameters, steps, denominators, value=-1)
        for parameter, state, exp_avg, exp_avg_sq, new in zip(
            parameters, states, exp_avgs, exp_avg_sqs, updated, strict=True
        ):
            if updating is not None:
                mask = updating.reshape(-1, *(1,) * (parameter.ndim - 1))
                exp_avg = torch.where(mask, exp_avg, state["exp_avg"])
                exp_avg_sq = torch.where(mask, exp_avg_sq, state["exp_avg_sq"])
                new = torch.where(mask, new, parameter)
            state["exp_avg"], state["exp_avg_sq"], state["step"] = exp_avg, exp_avg_sq, step
            parameter.copy_(new)

    def _state_of(self, parameter: Tensor) -> dict[str, Tensor]:
        state = self.state[parameter]
        if not state:
            state["step"] = torch.zeros(parameter.shape[0], dtype=torch.float64, device=parameter.device)
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
                "step": own["step"][member].to(torch.float32).cpu(),
                "exp_avg": own["exp_avg"][member].clone(),
                "exp_avg_sq": own["exp_avg_sq"][member].clone(),
            }
    return {**adam_state, "state": state}
