"""Activation layers and the softmax family, as ``torch.nn`` activations: thin modules over
:mod:`ember.nn.functional` with PyTorch's arguments, attributes and ``extra_repr`` text."""

from __future__ import annotations

import warnings

from ...tensor.creation import empty
from ...tensor.tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Threshold", "ReLU", "Hardtanh", "ReLU6", "Sigmoid", "Hardsigmoid", "Tanh", "SiLU", "Mish", "Hardswish",
           "ELU", "CELU", "SELU", "GLU", "GELU", "Hardshrink", "LeakyReLU", "LogSigmoid", "Softplus", "Softshrink",
           "PReLU", "Softsign", "Tanhshrink", "Softmin", "Softmax", "Softmax2d", "LogSoftmax"]


def _inplace_suffix(inplace: bool) -> str:
    return ", inplace=True" if inplace else ""


class _InplaceActivation(Module):
    """An activation whose only option is ``inplace`` (repr ``inplace=True`` or nothing)."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Threshold(Module):
    """Replaces every element not greater than ``threshold`` by ``value``.

    Args:
        threshold: the value to threshold at.
        value: the value to replace with.
        inplace: can optionally do the operation in-place. Default: ``False``

    Shape:
        - Input: :math:`(*)`; Output: :math:`(*)`, same shape as the input.
    """

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        super().__init__()
        self.threshold = threshold
        self.value = value
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.threshold(input, self.threshold, self.value, self.inplace)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}, value={self.value}{_inplace_suffix(self.inplace)}"


class ReLU(_InplaceActivation):
    """Applies the rectified linear unit ``max(0, x)`` element-wise.

    Args:
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.relu(input, inplace=self.inplace)


class Hardtanh(Module):
    """Clamps every element to ``[min_val, max_val]``.

    Args:
        min_val: minimum value of the linear region. Default: -1
        max_val: maximum value of the linear region. Default: 1
        inplace: can optionally do the operation in-place. Default: ``False``
        min_value, max_value: deprecated spellings of ``min_val`` and ``max_val``.
    """

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False,
                 min_value: float | None = None, max_value: float | None = None) -> None:
        super().__init__()
        if min_value is not None:
            warnings.warn("keyword argument `min_value` is deprecated and renamed to `min_val`", FutureWarning,
                          stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated and renamed to `max_val`", FutureWarning,
                          stacklevel=2)
            max_val = max_value
        self.min_val = min_val
        self.max_val = max_val
        self.inplace = inplace
        if self.max_val <= self.min_val:
            raise AssertionError(f"max_val ({self.max_val}) must be greater than min_val ({self.min_val})")

    def forward(self, input: Tensor) -> Tensor:
        return F.hardtanh(input, self.min_val, self.max_val, self.inplace)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}{_inplace_suffix(self.inplace)}"


class ReLU6(Hardtanh):
    """Applies ``min(max(0, x), 6)`` element-wise.

    Args:
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    """Applies the logistic function ``1 / (1 + exp(-x))`` element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.sigmoid(input)


class Hardsigmoid(_InplaceActivation):
    """Applies ``relu6(x + 3) / 6`` element-wise.

    Args:
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.hardsigmoid(input, self.inplace)

    def extra_repr(self) -> str:
        # PyTorch's Hardsigmoid has no extra_repr: its repr never shows inplace.
        return ""


class Tanh(Module):
    """Applies the hyperbolic tangent element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanh(input)


class SiLU(_InplaceActivation):
    """Applies the sigmoid linear unit ``x * sigmoid(x)`` element-wise.

    Args:
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.silu(input, inplace=self.inplace)


class Mish(_InplaceActivation):
    """Applies ``x * tanh(softplus(x))`` element-wise.

    Args:
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.mish(input, inplace=self.inplace)


class Hardswish(_InplaceActivation):
    """Applies ``x * relu6(x + 3) / 6`` element-wise.

    Args:
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.hardswish(input, self.inplace)

    def extra_repr(self) -> str:
        # PyTorch's Hardswish has no extra_repr: its repr never shows inplace.
        return ""


class _AlphaActivation(Module):
    """An exponential-linear activation with a negative-side ``alpha`` (ELU, CELU)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}{_inplace_suffix(self.inplace)}"


class ELU(_AlphaActivation):
    """Applies ``x if x > 0 else alpha * (exp(x) - 1)`` element-wise.

    Args:
        alpha: the value of the negative saturation. Default: 1.0
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.elu(input, self.alpha, self.inplace)


class CELU(_AlphaActivation):
    """Applies ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` element-wise.

    Args:
        alpha: the alpha value of the CELU formulation. Default: 1.0
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.celu(input, self.alpha, self.inplace)


class SELU(_InplaceActivation):
    """Applies the self-normalising ``scale * elu(x, alpha)`` with its fixed constants.

    Args:
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.selu(input, self.inplace)


class GLU(Module):
    """Gated linear unit ``a * sigmoid(b)`` over the two halves ``a, b`` of the input along ``dim``.

    Args:
        dim: the dimension on which to split the input. Default: -1

    Shape:
        - Input: :math:`(*_1, N, *_2)`; Output: :math:`(*_1, M, *_2)` with :math:`M = N / 2`.
    """

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.glu(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class GELU(Module):
    """Applies the Gaussian error linear unit ``x * Phi(x)`` element-wise.

    Args:
        approximate: ``'none'`` for the exact erf form, ``'tanh'`` for the tanh approximation. Default: ``'none'``
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        self.approximate = approximate

    def forward(self, input: Tensor) -> Tensor:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class _Shrink(Module):
    """A shrinkage activation with threshold ``lambd`` (Hardshrink, Softshrink)."""

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__()
        self.lambd = lambd

    def extra_repr(self) -> str:
        return f"{self.lambd}"


class Hardshrink(_Shrink):
    """Keeps ``x`` where ``|x| > lambd`` and zeroes the rest.

    Args:
        lambd: the lambda value of the formulation. Default: 0.5
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.hardshrink(input, self.lambd)


class LeakyReLU(Module):
    """Applies ``x if x > 0 else negative_slope * x`` element-wise.

    Args:
        negative_slope: the slope for negative inputs. Default: 1e-2
        inplace: can optionally do the operation in-place. Default: ``False``
    """

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}{_inplace_suffix(self.inplace)}"


class LogSigmoid(Module):
    """Applies ``log(sigmoid(x))`` element-wise, computed stably."""

    def forward(self, input: Tensor) -> Tensor:
        return F.logsigmoid(input)


class Softplus(Module):
    """Applies ``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``.

    Args:
        beta: the beta value of the formulation. Default: 1
        threshold: values above this revert to a linear function. Default: 20
    """

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input: Tensor) -> Tensor:
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Softshrink(_Shrink):
    """Shrinks every element towards zero by ``lambd``, zeroing those within ``[-lambd, lambd]``.

    Args:
        lambd: the lambda (must be no less than zero). Default: 0.5
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softshrink(input, self.lambd)


class PReLU(Module):
    """``x if x > 0 else a * x`` with a learnable slope ``a``: one shared, or one per channel (dim 1).

    Args:
        num_parameters: number of slopes to learn: 1, or the number of channels of the input. Default: 1
        init: the initial value of every slope. Default: 0.25

    Attributes:
        weight: the learnable slopes, of shape ``(num_parameters,)``.
    """

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None) -> None:
        super().__init__()
        self.num_parameters = num_parameters
        self.init = init
        self.weight = Parameter(empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Sets every slope back to ``init``."""
        init.constant_(self.weight, self.init)

    def forward(self, input: Tensor) -> Tensor:
        return F.prelu(input, self.weight)

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"


class Softsign(Module):
    """Applies ``x / (1 + |x|)`` element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.softsign(input)


class Tanhshrink(Module):
    """Applies ``x - tanh(x)`` element-wise."""

    def forward(self, input: Tensor) -> Tensor:
        return F.tanhshrink(input)


class _SoftmaxFamily(Module):
    """A normalisation along ``dim``; ``dim=None`` takes PyTorch's legacy choice, with its deprecation warning."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


# The functionals warn with this stacklevel so that a dim=None warning names the line that called the module.
_MODULE_STACKLEVEL = 5


class Softmin(_SoftmaxFamily):
    """Applies ``softmax(-x)`` along ``dim``, rescaling the elements into ``[0, 1]`` with sum 1.

    Args:
        dim: the dimension along which Softmin is computed.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softmin(input, self.dim, _stacklevel=_MODULE_STACKLEVEL)


class Softmax(_SoftmaxFamily):
    """Applies ``exp(x) / sum(exp(x))`` along ``dim``.

    Args:
        dim: the dimension along which Softmax is computed (every slice along it sums to 1).
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim, _stacklevel=_MODULE_STACKLEVEL)


class Softmax2d(Module):
    """Applies Softmax over the channels (dim -3) at every spatial location of ``(N, C, H, W)`` or ``(C, H, W)``."""

    def forward(self, input: Tensor) -> Tensor:
        if input.dim() not in (3, 4):
            raise ValueError(f"Softmax2d: expected input to be 3D or 4D, got {input.dim()}D instead")
        return F.softmax(input, -3, _stacklevel=_MODULE_STACKLEVEL)


class LogSoftmax(_SoftmaxFamily):
    """Applies ``log(softmax(x))`` along ``dim``, computed stably.

    Args:
        dim: the dimension along which LogSoftmax is computed.
    """

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim, _stacklevel=_MODULE_STACKLEVEL)
