"""Stochastic gradient descent with momentum, dampening, Nesterov momentum, weight decay and maximize."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..tensor.tensor import Tensor
from .optimizer import Optimizer, _check_unsupported, _descent_grad, check_non_negative
from .update_kernels import sgd_momentum_step_

__all__ = ["SGD"]


class SGD(Optimizer):
    r"""Implements stochastic gradient descent (optionally with momentum), PyTorch's algorithm exactly.

    Args:
        params (iterable): iterable of parameters or named parameters to optimize or iterable of dicts
            defining parameter groups.
        lr (float, optional): learning rate (default: 1e-3)
        momentum (float, optional): momentum factor (default: 0)
        dampening (float, optional): dampening for momentum (default: 0)
        weight_decay (float, optional): weight decay (L2 penalty) (default: 0)
        nesterov (bool, optional): enables Nesterov momentum (default: False)
        maximize (bool, optional): maximize the objective with respect to the params, instead of minimizing
            (default: False)
        foreach (bool, optional): accepted for compatibility; ember has a single implementation.
        differentiable (bool, optional): must be False in ember.
        fused (bool, optional): must be None or False in ember.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        check_non_negative(nan_ok=True, lr=lr, momentum=momentum, weight_decay=weight_decay)
        _check_unsupported(differentiable, fused)
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            "foreach": foreach,
            "differentiable": differentiable,
            "fused": fused,
        }
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _update(self, p: Tensor, group: dict[str, Any]) -> None:
        momentum = group["momentum"]
        buf = self.state[p].get("momentum_buffer") if momentum != 0 else None
        if buf is not None:
            sgd_momentum_step_(p, p.grad, buf, lr=group["lr"], momentum=momentum,
                               dampening=group["dampening"], weight_decay=group["weight_decay"],
                               nesterov=group["nesterov"], maximize=group["maximize"])
            return
        grad = _descent_grad(p, group)
        if momentum != 0:
            # The first step starts the buffer as a copy of the gradient (no dampening).
            self.state[p]["momentum_buffer"] = buf = grad.clone().detach()
            grad = grad.add(buf, alpha=momentum) if group["nesterov"] else buf
        p.add_(grad, alpha=-group["lr"])
