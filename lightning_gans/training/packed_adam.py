"""Adam for a pack: each member (the first dimension of every parameter) with its own lr, betas and step count.

The arithmetic is torch.optim.Adam's single-tensor path (the one it takes on a CPU), term for term, with the scalars
that Adam computes in Python's float64 (bias corrections, step size) computed here in float64 per member and rounded
to the parameters' dtype where Adam rounds them. A member left out of a step (`updating`) keeps its parameters, its
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
        """One Adam step of the members `updating` marks (a (K,) bool tensor; all of them when None)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            for parameter in group["params"]:
                if parameter.grad is not None:
                    self._update(parameter, group, updating)
        return loss

    def _update(self, parameter: Tensor, group: dict, updating: Tensor | None) -> None:
        state = self.state[parameter]
        if not state:
            state["step"] = torch.zeros(parameter.shape[0], dtype=torch.float64, device=parameter.device)
            state["exp_avg"] = torch.zeros_like(parameter)
            state["exp_avg_sq"] = torch.zeros_like(parameter)
        lr, beta1, beta2 = (group[name].to(parameter.device) for name in ("lr", "beta1", "beta2"))
        step = state["step"] + (1.0 if updating is None else updating.to(torch.float64))
        grad = parameter.grad
        exp_avg = state["exp_avg"].lerp(grad, per_member(1 - beta1, parameter))
        exp_avg_sq = state["exp_avg_sq"] * per_member(beta2, parameter) + per_member(1 - beta2, parameter) * grad * grad
        step_size = per_member(lr / (1 - beta1**step), parameter)
        bias_correction2_sqrt = per_member((1 - beta2**step) ** 0.5, parameter)
        denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(group["eps"])
        updated = parameter - step_size * (exp_avg / denom)
        if updating is None:
            state["exp_avg"], state["exp_avg_sq"] = exp_avg, exp_avg_sq
            parameter.copy_(updated)
        else:
            mask = updating.reshape(-1, *(1,) * (parameter.ndim - 1))
            state["exp_avg"] = torch.where(mask, exp_avg, state["exp_avg"])
            state["exp_avg_sq"] = torch.where(mask, exp_avg_sq, state["exp_avg_sq"])
            parameter.copy_(torch.where(mask, updated, parameter))
        state["step"] = step


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
