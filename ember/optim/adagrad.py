"""Adagrad: per-coordinate learning rates from the running sum of squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor.creation import full_like, tensor
from ..tensor.dtypes import float32
from ..tensor.tensor import Tensor
from .optimizer import Optimizer, _check_unsupported, _descent_grad, check_non_negative

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    r"""Implements the Adagrad algorithm, PyTorch's update exactly.

    Args:
        params (iterable): iterable of parameters to optimize or dicts defining parameter groups
        lr (float, optional): learning rate (default: 1e-2)
        lr_decay (float, optional): learning rate decay (default: 0)
        weight_decay (float, optional): weight decay (L2 penalty) (default: 0)
        initial_accumulator_value (float, optional): initial value of the sum of squares of gradients
            (default: 0)
        eps (float, optional): term added to the denominator to improve numerical stability (default: 1e-10)
        foreach (bool, optional): accepted for compatibility; ember has a single implementation.
        maximize (bool, optional): maximize the objective with respect to the params (default: False)
        differentiable (bool, optional): must be False in ember.
        fused (bool, optional): must be None or False in ember.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_non_negative(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                           initial_accumulator_value=initial_accumulator_value, eps=eps)
        _check_unsupported(differentiable, fused)
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)
        # Unlike the other optimizers, Adagrad creates its state eagerly (PyTorch does the same).
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state[p]
                state["step"] = tensor(0.0, dtype=float32)
                state["sum"] = full_like(p, group["initial_accumulator_value"])

    def _update(self, p: Tensor, group: dict[str, Any]) -> None:
        lr, lr_decay = group["lr"], group["lr_decay"]
        state = self.state[p]
        step_t, state_sum = state["step"], state["sum"]
        step_t.add_(1)
        step = step_t.item()
        grad = _descent_grad(p, group)
        clr = lr / (1 + (step - 1) * lr_decay)
        state_sum.add_(grad * grad)
        std = state_sum.sqrt().add_(group["eps"])
        p.add_(grad / std, alpha=-clr)
