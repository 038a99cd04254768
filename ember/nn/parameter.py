"""``ember.nn.Parameter``: a tensor that a :class:`~ember.nn.Module` registers as one of its parameters."""

from __future__ import annotations

from typing import Any

from ..tensor.tensor import Tensor

__all__ = ["Parameter"]


def _rebuild_parameter(data: Tensor, requires_grad: bool) -> Parameter:
    return Parameter(data, requires_grad)


class Parameter(Tensor):
    """A kind of Tensor that is to be considered a module parameter.

    Assigning a Parameter as a Module attribute adds it to the module's :meth:`~ember.nn.Module.parameters`.
    The Parameter shares ``data``'s storage (no copy), as PyTorch's does.

    Args:
        data (Tensor, optional): parameter tensor; an empty tensor when omitted.
        requires_grad (bool, optional): if the parameter requires gradient. Default: ``True``.
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        from ..tensor.creation import empty

        if data is None:
            data = empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter(): argument 'data' must be Tensor, not {type(data).__name__}")
        param = cls._make(data._storage, data._shape, data._stride, data._offset, data._dtype)
        param.requires_grad_(requires_grad)
        return param

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        result = type(self)(self.data.clone(), self.requires_grad)
        memo[id(self)] = result
        return result

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return (_rebuild_parameter, (self.detach(), self.requires_grad))
