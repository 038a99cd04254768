"""Activation functions and the softmax family, composed from ember tensor ops (so autograd needs nothing new)."""

from __future__ import annotations

import warnings

import ember
from ember.tensor import dtypes
from ember.tensor.ops import unary
from ember.tensor.tensor import Tensor


def _inplace_result(input: Tensor, inplace: bool, compute) -> Tensor:
    """``compute(input)``, written back into ``input`` when the caller asked for an in-place activation.

    In place, the formula runs on a copy when ``input`` takes part in autograd: its graph saves the operand,
    which the write-back would otherwise modify under it (PyTorch's in-place kernels save their output instead).
    """
    if not inplace:
        return compute(input)
    return input.copy_(compute(input.clone() if input.requires_grad else input))


def _floating_only(input: Tensor, kernel: str) -> None:
    """PyTorch's refusal of integer and bool inputs for activations whose kernels are floating-point only."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError(f'"{kernel}" not implemented for \'{input.dtype.scalar_name}\'')


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies the rectified linear unit ``max(0, x)`` element-wise."""
    return input.relu_() if inplace else ember.relu(input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """Clamps ``input`` to ``[min_val, max_val]``; the gradient is 1 strictly inside the range, 0 elsewhere."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    # PyTorch's hardtanh passes no gradient at the bounds themselves (clamp would): the clamped values enter
    # detached, so only the strictly-inside elements carry a gradient.
    # The cast keeps integer inputs integral, as PyTorch does (float bounds would promote the clamp).
    return _inplace_result(input, inplace, lambda x: ember.where(
        (x > min_val) & (x < max_val), x, x.clamp(min_val, max_val).detach().to(x.dtype)))


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies ``min(max(0, x), 6)`` element-wise."""
    return hardtanh(input, 0.0, 6.0, inplace)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """Applies ``x if x > 0 else negative_slope * x`` element-wise."""
    _floating_only(input, "leaky_relu_cpu")
    return _inplace_result(input, inplace, lambda x: ember.where(x > 0, x, x * negative_slope))


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Applies ``x if x > 0 else alpha * (exp(x) - 1)`` element-wise."""
    _floating_only(input, "elu_cpu")
    # The exponential only ever sees non-positive values, so the unused branch cannot overflow into a NaN grad.
    return _inplace_result(input, inplace, lambda x: ember.where(x > 0, x, ember.expm1(x.clamp(max=0)) * alpha))


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit ``x * Phi(x)``; ``approximate='tanh'`` uses the tanh approximation."""
    return unary.gelu(input, approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies ``x * sigmoid(x)`` element-wise."""
    return _inplace_result(input, inplace, unary.silu)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies ``x * tanh(softplus(x))`` element-wise."""
    _floating_only(input, "mish_cpu")
    return _inplace_result(input, inplace, lambda x: x * ember.tanh(unary.softplus(x)))


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """Applies ``log(1 + exp(beta * x)) / beta``, linear where ``beta * x > threshold``."""
    return unary.softplus(input, beta, threshold)


def sigmoid(input: Tensor) -> Tensor:
    """Applies the logistic function ``1 / (1 + exp(-x))`` element-wise."""
    return ember.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """Applies the hyperbolic tangent element-wise."""
    return ember.tanh(input)


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """PyTorch's legacy choice of dim when none is given (with its deprecation warning)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to include dim=X "
                  "as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: dtypes.dtype | None = None) -> Tensor:
    """``exp(x) / sum(exp(x))`` along ``dim``, computed stably; ``dtype`` casts the input first."""
    if dim is None:
        dim = _softmax_dim("softmax", input.dim(), _stacklevel)
    return ember.softmax(input, dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: dtypes.dtype | None = None) -> Tensor:
    """``log(softmax(x))`` along ``dim``, computed stably; ``dtype`` casts the input first."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.dim(), _stacklevel)
    return ember.log_softmax(input, dim, dtype=dtype)


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10, dim: int = -1) -> Tensor:
    """A sample from the Gumbel-softmax distribution: ``softmax((logits + g) / tau)`` with Gumbel noise ``g``
    from ember's default generator; ``hard`` returns the one-hot argmax with the soft sample's gradient."""
    gumbels = -ember.empty_like(logits).exponential_().log()
    soft = ember.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return soft
    index = soft.argmax(dim, keepdim=True)
    one_hot = ember.zeros_like(logits).scatter(dim, index, 1.0)
    # Straight-through: the value is the one-hot sample, the gradient the soft one's.
    return one_hot - soft.detach() + soft


def _neg_log_sigmoid(x: Tensor) -> Tensor:
    """``-log(sigmoid(x)) = log1p(exp(-|x|)) + max(-x, 0)``, written per sign so exp never overflows and the
    gradient at 0 is exactly -1/2 (abs and max would both give 0 there)."""
    return ember.where(x >= 0, ember.log1p(ember.exp(-x.clamp(min=0))), ember.log1p(ember.exp(x.clamp(max=0))) - x)


def logsigmoid(input: Tensor) -> Tensor:
    """Applies ``log(1 / (1 + exp(-x)))`` element-wise, computed stably."""
    _floating_only(input, "log_sigmoid_cpu")
    return -_neg_log_sigmoid(input)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype: dtypes.dtype | None = None) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    if dim is None:
        dim = _softmax_dim("softmin", input.dim(), _stacklevel)
    return ember.softmax(-input if dtype is None else -input.to(dtype), dim)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies ``relu6(x + 3) / 6`` element-wise (gradient 1/6 strictly inside (-3, 3))."""
    _floating_only(input, "hardsigmoid_cpu")
    return _inplace_result(input, inplace, lambda x: relu6(x + 3) / 6)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies ``x * relu6(x + 3) / 6`` element-wise."""
    _floating_only(input, "hardswish_cpu")
    # Three explicit pieces give PyTorch's gradient at the joints: 0 at -3 and 1 at 3.
    return _inplace_result(input, inplace,
                           lambda x: ember.where(x <= -3, x * 0, ember.where(x < 3, x * (x + 3) / 6, x)))


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """Applies ``scale * elu(x, alpha)`` with the self-normalising constants."""
    return _inplace_result(input, inplace, lambda x: elu(x, _SELU_ALPHA) * _SELU_SCALE)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """Applies ``max(0, x) + min(0, alpha * (exp(x / alpha) - 1))`` element-wise."""
    _floating_only(input, "elu_cpu")
    return _inplace_result(input, inplace,
                           lambda x: ember.where(x > 0, x, ember.expm1(x.clamp(max=0) / alpha) * alpha))


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: ``a * sigmoid(b)`` for the two halves ``a, b`` of ``input`` along ``dim``."""
    _floating_only(input, "glu_cpu")
    if input.dim() == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    size = input.shape[dim]
    if size % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {dim % input.dim()} is size {size}")
    first, second = input.chunk(2, dim)
    return first * ember.sigmoid(second)


def softsign(input: Tensor) -> Tensor:
    """Applies ``x / (1 + |x|)`` element-wise."""
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """Applies ``x - tanh(x)`` element-wise."""
    return input - ember.tanh(input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x`` where ``x > threshold``, else ``value``."""
    return _inplace_result(input, inplace, lambda x: ember.where(x > threshold, x, value))


# threshold_'s parameter shadows the function's name, as in PyTorch's signature.
_threshold = threshold


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > lambd``, else 0."""
    _floating_only(input, "hardshrink_cpu")
    return ember.where((input > lambd) | (input < -lambd), input, 0.0)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - lambd`` above ``lambd``, ``x + lambd`` below ``-lambd``, else 0."""
    _floating_only(input, "softshrink_check")
    if lambd < 0:
        raise RuntimeError(f"lambda must be greater or equal to 0, but found to be {lambd}.")
    return ember.where(input > lambd, input - lambd, ember.where(input < -lambd, input + lambd, 0.0))


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x if x > 0 else weight * x`` with a learnable slope per channel (dim 1), or one shared slope."""
    _floating_only(input, "prelu_cpu")
    if weight.numel() != 1:
        channels = input.shape[1] if input.dim() >= 2 else 1
        if weight.numel() != channels:
            raise RuntimeError(f"Mismatch of parameter numbers and input channel size. Found parameter numbers = "
                               f"{weight.numel()} and channel size = {channels}.")
        weight = weight.reshape((-1,) + (1,) * (input.dim() - 2))
    return ember.where(input > 0, input, input * weight)


def relu_(input: Tensor) -> Tensor:
    """In-place ``relu``."""
    return relu(input, inplace=True)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place ``hardtanh``."""
    return hardtanh(input, min_val, max_val, inplace=True)


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place ``leaky_relu``."""
    return leaky_relu(input, negative_slope, inplace=True)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``elu``."""
    return elu(input, alpha, inplace=True)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place ``celu``."""
    return celu(input, alpha, inplace=True)


def selu_(input: Tensor) -> Tensor:
    """In-place ``selu``."""
    return selu(input, inplace=True)


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place ``threshold``."""
    return _threshold(input, threshold, value, inplace=True)


__all__ = ["relu", "relu6", "hardtanh", "leaky_relu", "elu", "gelu", "silu", "mish", "softplus", "sigmoid", "tanh",
           "softmax", "log_softmax", "gumbel_softmax", "logsigmoid", "softmin", "hardsigmoid", "hardswish", "selu",
           "celu", "glu", "softsign", "tanhshrink", "threshold", "hardshrink", "softshrink", "prelu", "relu_",
           "hardtanh_", "leaky_relu_", "elu_", "celu_", "selu_", "threshold_"]
