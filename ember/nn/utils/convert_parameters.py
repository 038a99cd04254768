"""Conversion between a model's parameters and one flat vector, as ``torch.nn.utils.convert_parameters``."""

from __future__ import annotations

from collections.abc import Iterable

import ember
from ember.tensor.tensor import Tensor

__all__ = ["parameters_to_vector", "vector_to_parameters"]


def _check_param_device(param: Tensor, old_param_device: int | None) -> int:
    """The device index of ``param`` (-1 for the CPU), refusing a parameter on another device than the first."""
    device = param.device.index if param.device.type == "cuda" else -1
    device = 0 if device is None else device
    if old_param_device is not None and device != old_param_device:
        raise TypeError("Found two parameters on different devices, this is currently not supported.")
    return device


def parameters_to_vector(parameters: Iterable[Tensor]) -> Tensor:
    """Flatten an iterable of parameters into one vector (a new tensor, differentiable).

    Args:
        parameters: the parameters of a model, all on one device.

    Returns:
        The parameters, flattened and concatenated in order.
    """
    param_device = None
    vec = []
    for param in parameters:
        param_device = _check_param_device(param, param_device)
        vec.append(param.view(-1))
    return ember.cat(vec)


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into ``parameters`` (each parameter's ``.data`` becomes a view of it).

    Args:
        vec: one vector holding all the parameters' values.
        parameters: the parameters of a model, all on one device.
    """
    if not isinstance(vec, Tensor):
        module = type(vec).__module__
        name = type(vec).__qualname__ if module == "builtins" else f"{module}.{type(vec).__qualname__}"
        raise TypeError(f"expected ember.Tensor, but got: {name}")
    param_device = None
    pointer = 0
    for param in parameters:
        param_device = _check_param_device(param, param_device)
        num_param = param.numel()
        param.data = vec[pointer:pointer + num_param].view_as(param).data
        pointer += num_param
