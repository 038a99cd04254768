"""Gradient clipping, as ``torch.nn.utils.clip_grad``: the total norm of many gradients (as if concatenated into
one vector), scaling gradients to a maximum norm, and clamping them to a value range. All run under no_grad and
modify the gradients in place."""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import ember
from ember.autograd import no_grad
from ember.tensor.tensor import Tensor

__all__ = ["clip_grad_norm", "clip_grad_norm_", "clip_grad_value_", "clip_grads_with_norm_", "get_total_norm"]

TensorOrTensors = Tensor | Iterable[Tensor]


def _no_grad(func: Callable) -> Callable:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with no_grad():
            return func(*args, **kwargs)

    return wrapper


def _check_foreach(foreach: bool | None, tensors: list[Tensor]) -> None:
    """``foreach`` only picks an implementation in PyTorch; ember has one loop for every device. Like PyTorch,
    ``foreach=True`` is refused where PyTorch has no foreach kernels (any device but CPU and CUDA)."""
    if not foreach:
        return
    for t in tensors:
        if t.device.type not in ("cpu", "cuda"):
            raise RuntimeError(f"foreach=True was passed, but can't use the foreach API on {t.device.type} tensors")


@_no_grad
def get_total_norm(tensors: TensorOrTensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of ``tensors`` viewed as one vector (the norm of their norms).

    Args:
        tensors: a tensor or an iterable of tensors.
        norm_type: the order of the p-norm; ``'inf'`` (or ``float('inf')``) for the largest absolute value.
        error_if_nonfinite: if True, a nan or infinite total norm raises ``RuntimeError``.
        foreach: accepted for compatibility; ember has one implementation.

    Returns:
        The total norm, a 0-d tensor (``tensor(0.)`` for no tensors).
    """
    tensors = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    norm_type = float(norm_type)
    if not tensors:
        return ember.tensor(0.0)
    _check_foreach(foreach, tensors)
    first_device = tensors[0].device
    norms = [t.norm(norm_type).to(first_device) for t in tensors]
    # The per-tensor norms share a dtype before stacking, as PyTorch's result for mixed dtypes is promoted.
    dtype = norms[0].dtype
    for norm in norms[1:]:
        dtype = ember.promote_types(dtype, norm.dtype)
    total_norm = ember.stack([norm.to(dtype) for norm in norms]).norm(norm_type)
    if error_if_nonfinite and bool(total_norm.isnan().logical_or(total_norm.isinf())):
        raise RuntimeError(f"The total norm of order {norm_type} for gradients from `parameters` is non-finite, so "
                           "it cannot be clipped. To disable this error and scale the gradients by the non-finite "
                           "norm anyway, set `error_if_nonfinite=False`")
    return total_norm


@_no_grad
def clip_grads_with_norm_(parameters: TensorOrTensors, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale the gradients of ``parameters`` in place by ``min(max_norm / (total_norm + 1e-6), 1)``.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` to scale.
        max_norm: the largest norm the gradients may have.
        total_norm: their total norm, as :func:`get_total_norm` returns it.
        foreach: accepted for compatibility; ember has one implementation.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    grads = [p.grad for p in parameters if p.grad is not None]
    max_norm = float(max_norm)
    if not grads:
        return
    _check_foreach(foreach, grads)
    clip_coef_clamped = (max_norm / (total_norm + 1e-6)).clamp(max=1.0)
    for grad in grads:
        grad.mul_(clip_coef_clamped.to(grad.device))


@_no_grad
def clip_grad_norm_(parameters: TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Clip the gradient norm of ``parameters``: the norm is taken over all their gradients as if concatenated
    into one vector, and every gradient is scaled in place so that it is at most ``max_norm``.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` to clip.
        max_norm: the largest norm the gradients may have.
        norm_type: the order of the p-norm; ``'inf'`` for the largest absolute value. Default: 2.0.
        error_if_nonfinite: if True, a nan or infinite total norm raises ``RuntimeError``. Default: False.
        foreach: accepted for compatibility; ember has one implementation.

    Returns:
        The total norm of the gradients before clipping, a 0-d tensor.

    Example::

        >>> loss.backward()
        >>> nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        parameters = list(parameters)
        if is_generator and not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.", stacklevel=3)
    grads = [p.grad for p in parameters if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(parameters, max_norm, total_norm, foreach)
    return total_norm


def clip_grad_norm(parameters: TensorOrTensors, max_norm: float, norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated alias of :func:`clip_grad_norm_`."""
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of `torch.nn.utils.clip_grad_norm_`.",
                  FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


@_no_grad
def clip_grad_value_(parameters: TensorOrTensors, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp the gradients of ``parameters`` in place to ``[-clip_value, clip_value]``.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` to clip.
        clip_value: the largest absolute value a gradient entry may have.
        foreach: accepted for compatibility; ember has one implementation.
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    clip_value = float(clip_value)
    grads = [p.grad for p in parameters if p.grad is not None]
    _check_foreach(foreach, grads)
    for grad in grads:
        grad.clamp_(min=-clip_value, max=clip_value)
