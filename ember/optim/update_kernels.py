"""Fused optimizer updates: one in-place primitive per parameter per step, instead of a dozen tensor ops.

``torch.optim``'s single-tensor CPU path (the one PyTorch takes for CPU parameters) runs each update as a chain
of in-place ops; on small parameters ember's per-op dispatch made that chain most of a training step. Each
kernel here runs the same chain on NumPy arrays, op for op, with torch's operand order inside each op
(``addcmul`` is ``self + (value * t1) * t2``, ``addcdiv`` is ``self + (value * t1) / t2``, ``lerp`` measures
from the nearer end) and Python-float scalars rounded to the parameter's dtype as torch's CPU kernels do, so
float32 and float64 trajectories equal torch's. Half and bfloat16 parameters compute in float32 (torch's opmath
type) and round to their dtype wherever torch stores a result.

The ops are INPLACE with the parameter as operand 0, so the dispatcher bumps its version; the wrappers bump
the state tensors' versions too, since the kernel writes them as well.
"""

from __future__ import annotations

import numpy as np

from ..tensor.dispatch import dispatch
from ..tensor.ops.promotion import quiet
from ..tensor.registry import INPLACE, Meta, cached_meta, defop
from ..tensor.tensor import Tensor

__all__ = ["adam_step_", "sgd_momentum_step_"]


def _param_meta(param: Tensor, *operands: Tensor | None, **attrs: object) -> Meta:
    """The parameter's meta, after checking that the gradient and state tensors are shaped like it."""
    for other in operands:
        if isinstance(other, Tensor) and other._shape != param._shape:
            raise RuntimeError(f"optimizer state of shape {list(other._shape)} does not match the parameter's "
                               f"shape {list(param._shape)}")
    return cached_meta(param._shape, param._dtype)


def _adam_meta(param: Tensor, *operands: Tensor | None, **attrs: object) -> Meta:
    # The last operand is the 0-d step count.
    return _param_meta(param, *operands[:-1])


def _no_rounding(array: np.ndarray) -> np.ndarray:
    return array


def _working(arrays: tuple) -> tuple[tuple, object, list]:
    """What to compute on: the arrays themselves for float32/float64; for half and bfloat16, float32 copies (torch's
    opmath type), a ``settle`` that rounds a copy to the parameter's dtype wherever torch stores a result, and the
    (original, copy) pairs to write back."""
    dt = arrays[0].dtype
    if dt.itemsize >= 4:
        return arrays, _no_rounding, []

    def settle(array: np.ndarray) -> np.ndarray:
        np.copyto(array, array.astype(dt))
        return array

    work = tuple(None if a is None else a.astype(np.float32) for a in arrays)
    return work, settle, [(a, w) for a, w in zip(arrays, work, strict=True) if a is not None]


def _write_back(pairs: list, written: tuple) -> None:
    for original, work in pairs:
        if any(work is w for w in written):
            np.copyto(original, work, casting="unsafe")


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float, scratch: np.ndarray) -> None:
    """``start.lerp_(end, weight)`` with torch's formula: from the nearer end, so weight 1 gives ``end`` exactly."""
    np.subtract(end, start, out=scratch)
    if abs(weight) < 0.5:
        scratch *= weight
        start += scratch
    else:
        scratch *= 1 - weight
        np.subtract(end, scratch, out=start)


def _decayed_grad(grad: np.ndarray, param: np.ndarray, weight_decay: float, maximize: bool, settle) -> np.ndarray:
    """``-grad`` when maximizing, then ``grad.add(param, alpha=weight_decay)``: fresh arrays, never ``grad``'s."""
    if maximize:
        grad = settle(np.negative(grad))
    if weight_decay != 0:
        grad = settle(grad + np.multiply(param, weight_decay, dtype=param.dtype))
    return grad


def _adam_kernel(param: np.ndarray, grad: np.ndarray, exp_avg: np.ndarray, exp_avg_sq: np.ndarray,
                 max_exp_avg_sq: np.ndarray | None, step: np.ndarray, *, lr: float, beta1: float, beta2: float,
                 eps: float, weight_decay: float, decoupled: bool, maximize: bool) -> None:
    originals = (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq)
    (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq), settle, pairs = _working(originals)
    step += 1
    t = float(step)
    if weight_decay != 0 and decoupled:
        param *= 1 - lr * weight_decay
        settle(param)
    grad = _decayed_grad(grad, param, 0 if decoupled else weight_decay, maximize, settle)
    scratch = np.empty_like(param)
    _lerp_(exp_avg, grad, 1 - beta1, scratch)
    settle(exp_avg)
    exp_avg_sq *= beta2
    settle(exp_avg_sq)
    # exp_avg_sq.addcmul_(grad, grad, value=1 - beta2)
    np.multiply(grad, 1 - beta2, out=scratch)
    scratch *= grad
    exp_avg_sq += scratch
    settle(exp_avg_sq)
    bias_correction1 = 1 - beta1**t
    bias_correction2 = 1 - beta2**t
    step_size = lr / bias_correction1
    if max_exp_avg_sq is not None:
        np.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
    denom = settle(np.sqrt(max_exp_avg_sq if max_exp_avg_sq is not None else exp_avg_sq, out=scratch))
    denom /= bias_correction2**0.5
    settle(denom)
    denom += eps
    settle(denom)
    # param.addcdiv_(exp_avg, denom, value=-step_size)
    update = np.multiply(exp_avg, -step_size, dtype=param.dtype)
    update /= denom
    param += update
    settle(param)
    _write_back(pairs, (param, exp_avg, exp_avg_sq, max_exp_avg_sq))


ADAM_STEP_ = defop("adam_step_", _adam_meta, cpu=quiet(_adam_kernel), kind=INPLACE, writes=(0, 2, 3, 4, 5),
                   doc="One Adam/AdamW update of a parameter and its moments, torch's single-tensor formula.")


def adam_step_(param: Tensor, grad: Tensor, exp_avg: Tensor, exp_avg_sq: Tensor, max_exp_avg_sq: Tensor | None,
               step: Tensor, *, lr: float, beta1: float, beta2: float, eps: float, weight_decay: float,
               decoupled: bool, maximize: bool) -> None:
    """Advance ``step`` by one and update ``param`` and its moments in place, as ``torch.optim.Adam`` does
    (``decoupled`` for AdamW's weight decay; ``max_exp_avg_sq`` given for amsgrad)."""
    dispatch(ADAM_STEP_, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, step, lr=lr, beta1=beta1, beta2=beta2,
             eps=eps, weight_decay=weight_decay, decoupled=decoupled, maximize=maximize)
    for state in (exp_avg, exp_avg_sq, max_exp_avg_sq, step):
        if state is not None:
            state._storage.version += 1


def _sgd_kernel(param: np.ndarray, grad: np.ndarray, buf: np.ndarray, *, lr: float, momentum: float,
                dampening: float, weight_decay: float, nesterov: bool, maximize: bool) -> None:
    (param, grad, buf), settle, pairs = _working((param, grad, buf))
    grad = _decayed_grad(grad, param, weight_decay, maximize, settle)
    buf *= momentum
    settle(buf)
    buf += np.multiply(grad, 1 - dampening, dtype=param.dtype)
    settle(buf)
    update = settle(grad + np.multiply(buf, momentum, dtype=param.dtype)) if nesterov else buf
    param += np.multiply(update, -lr, dtype=param.dtype)
    settle(param)
    _write_back(pairs, (param, buf))


SGD_MOMENTUM_STEP_ = defop("sgd_momentum_step_", _param_meta, cpu=quiet(_sgd_kernel), kind=INPLACE, writes=(0, 2),
                           doc="One SGD update with an existing momentum buffer, torch's single-tensor formula.")


def sgd_momentum_step_(param: Tensor, grad: Tensor, buf: Tensor, *, lr: float, momentum: float, dampening: float,
                       weight_decay: float, nesterov: bool, maximize: bool) -> None:
    """Update the momentum buffer and ``param`` in place, as ``torch.optim.SGD`` does once the buffer exists."""
    dispatch(SGD_MOMENTUM_STEP_, param, grad, buf, lr=lr, momentum=momentum, dampening=dampening,
             weight_decay=weight_decay, nesterov=nesterov, maximize=maximize)
    buf._storage.version += 1
