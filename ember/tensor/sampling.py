"""Sampling from tensors of parameters: bernoulli and multinomial, and the in-place random fills
(``uniform_``, ``normal_``, ``bernoulli_``, ``random_``, ``exponential_``).

As everywhere in ember's random numbers (see :mod:`.random`), draws are made on the host by the generator;
results enter through the creation path and in-place fills write through ``copy_``, so the version counter
moves. Arguments are validated first, with PyTorch's messages, so a refused call consumes no randomness.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

from . import dtypes
from .ops.copy import check_writable_without_overlap, copy_
from .ops.promotion import not_implemented
from .shape_rules import broadcast_shapes
from .tensor import Tensor, register_methods

__all__ = ["bernoulli", "multinomial"]

_BERNOULLI_RANGE = ("Expected p_in >= 0 && p_in <= 1 to be true, but got false.  (Could this error message be "
                    "improved?  If so, please report an enhancement request to PyTorch.)")
_MAX_CATEGORIES = 2**24


def _limits(dtype: dtypes.dtype) -> tuple[float, float]:
    if dtype is dtypes.bool:
        return 0.0, 1.0
    info = ml_dtypes.finfo(dtype.np_dtype) if dtype.is_floating_point else np.iinfo(dtype.np_dtype)
    return float(info.min), float(info.max)


def _within(value: float, dtype: dtypes.dtype) -> bool:
    lowest, highest = _limits(dtype)
    return lowest <= value <= highest


def _fill(input: Tensor, values: np.ndarray) -> Tensor:
    from .random import place

    return copy_(input, place(values, input.dtype, input.device))


# ----- argument checks shared with the creation functions -------------------------------------------------
def check_random_bounds(low: int, high: int, dtype: dtypes.dtype) -> None:
    """Validate an integer range [low, high) for ``dtype`` as ATen's ``random_from_to`` does."""
    for name, value in (("from", low), ("to", high)):
        if isinstance(value, bool | float) or not isinstance(value, int):
            raise TypeError(f"random_(): argument '{name}' must be int, not {type(value).__name__}")
    if not all(-(2**63) <= v < 2**63 for v in (low, high)):
        raise ValueError("Overflow when unpacking long long")
    if low >= high:
        raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={low} >= to={high}")
    if not _within(low, dtype):
        raise RuntimeError(f"from is out of bounds for {dtype.cpp_name}")
    if not _within(high - 1, dtype):
        raise RuntimeError(f"to - 1 is out of bounds for {dtype.cpp_name}")


def check_std(std: float) -> None:
    if not std >= 0.0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std:g}")


def _check_p(p: float) -> None:
    if not 0 <= p <= 1:
        raise RuntimeError(f"bernoulli_ expects p to be in [0, 1], but got p={p:g}")


def _require_float(input: Tensor, kernel: str) -> None:
    if not input.dtype.is_floating_point:
        raise not_implemented(kernel, input.dtype)


# ----- bernoulli ------------------------------------------------------------------------------------------
def _probabilities(p: Tensor) -> np.ndarray:
    values = p.cpu().numpy().astype(np.float64)
    if not np.all((values >= 0) & (values <= 1)):
        raise RuntimeError(_BERNOULLI_RANGE)
    return values


def _coin_flips(generator: Any, probabilities: Any, shape: tuple) -> np.ndarray:
    from .random import unit_uniform

    return unit_uniform(generator, shape, dtypes.float64) < probabilities


def bernoulli(input: Tensor, p: float | None = None, *, generator: Any = None) -> Tensor:
    """Draw 0/1 samples: ``out[i] ~ Bernoulli(input[i])``, or ``Bernoulli(p)`` for every element when ``p`` is
    given. The result has ``input``'s shape and dtype.

    Example::

        >>> ember.bernoulli(ember.tensor([0.0, 1.0]))
        tensor([0., 1.])
    """
    from .random import place

    if isinstance(p, Tensor):
        raise TypeError("bernoulli(): argument 'p' must be float, not Tensor (use Tensor.bernoulli_ for tensor p)")
    if p is None:
        _require_float(input, "bernoulli_tensor_cpu_p_")
        probabilities = _probabilities(input)
    else:
        _check_p(p)
        probabilities = p
    return place(_coin_flips(generator, probabilities, input._shape), input.dtype, input.device)


def bernoulli_(input: Tensor, p: float | Tensor = 0.5, *, generator: Any = None) -> Tensor:
    """Fill ``input`` in place with Bernoulli samples of probability ``p`` (a number or a tensor broadcastable
    to ``input``)."""
    check_writable_without_overlap(input, "bernoulli_")
    if isinstance(p, Tensor):
        if broadcast_shapes(input._shape, p._shape, names=("self", "p")) != input._shape:
            raise RuntimeError(f"bernoulli_: p of shape {list(p._shape)} cannot be broadcast to self of shape "
                               f"{list(input._shape)}")
        probabilities = _probabilities(p)
    else:
        _check_p(p)
        probabilities = p
    return _fill(input, _coin_flips(generator, probabilities, input._shape))


# ----- multinomial ----------------------------------------------------------------------------------------
def _check_multinomial(input: Tensor, num_samples: Any, replacement: bool) -> None:
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"multinomial only supports floating-point dtypes for input, got: {input.dtype.scalar_name}")
    if input.dim() not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if isinstance(num_samples, float | bool) or not isinstance(num_samples, int):
        raise TypeError(f"multinomial(): argument 'num_samples' (position 2) must be int, not "
                        f"{type(num_samples).__name__}")
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    categories = input._shape[-1]
    if not replacement and num_samples > categories:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without replacement")
    if categories > _MAX_CATEGORIES:
        raise RuntimeError("number of categories cannot exceed 2^24")


def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *, generator: Any = None) -> Tensor:
    """Sample category indices from the (unnormalised) probabilities in each row of ``input``.

    Args:
        input: 1-D or 2-D non-negative weights; each row is one distribution.
        num_samples: samples per row.
        replacement: draw with replacement; without it, each row yields distinct indices (categories of
            zero weight come only after all the others are used up).

    Returns an int64 tensor of shape ``(num_samples,)`` or ``(rows, num_samples)``.
    """
    from .random import numpy_generator, place

    _check_multinomial(input, num_samples, replacement)
    rows = input._shape[0] if input.dim() == 2 else 1
    weights = input.cpu().numpy().astype(np.float64).reshape(rows, input._shape[-1])
    if not np.all(np.isfinite(weights) & (weights >= 0)):
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    totals = weights.sum(axis=1)
    if not np.all(totals > 0):
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rng = numpy_generator(generator)
    if replacement:
        cdf = np.cumsum(weights, axis=1)
        draws = rng.random((rows, num_samples)) * totals[:, None]
        # The last positive category bounds the index: rounding in the sum must not pick a zero-weight tail.
        last = weights.shape[1] - 1 - np.argmax(weights[:, ::-1] > 0, axis=1)
        samples = np.empty(draws.shape, dtype=np.int64)
        for row in range(rows):
            samples[row] = np.minimum(np.searchsorted(cdf[row], draws[row], side="right"), last[row])
    else:
        # Exponential races: ordering categories by w / Exp(1), largest first, is sampling without replacement
        # in proportion to w (PyTorch's CPU kernel does the same).
        keys = weights / rng.standard_exponential(weights.shape)
        samples = np.argsort(-keys, axis=1, kind="stable")[:, :num_samples]
    shape = (num_samples,) if input.dim() == 1 else (rows, num_samples)
    return place(samples.reshape(shape), dtypes.int64, input.device)


# ----- in-place fills -------------------------------------------------------------------------------------
def uniform_(input: Tensor, from_: float = 0.0, to: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill ``input`` in place with uniform samples from [from_, to)."""
    from .random import unit_uniform

    _require_float(input, "check_uniform_bounds")
    name = input.dtype.cpp_name
    if not _within(from_, input.dtype):
        raise RuntimeError(f"from is out of bounds for {name}")
    if not _within(to, input.dtype):
        raise RuntimeError(f"to is out of bounds for {name}")
    if from_ > to:
        raise RuntimeError(f"uniform_ expects to return a [from, to) range, but found from={from_:g} > to={to:g}")
    if not _within(to - from_, input.dtype):
        raise RuntimeError(f"uniform_ expects to-from <= std::numeric_limits<{input.dtype.scalar_name}>::max(), but "
                           f"found to={to:g} and from={from_:g} which result in to-from to exceed the limit")
    check_writable_without_overlap(input, "uniform_")
    return _fill(input, unit_uniform(generator, input._shape, input.dtype) * (to - from_) + from_)


def normal_(input: Tensor, mean: float = 0.0, std: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill ``input`` in place with samples from the normal distribution N(mean, std**2)."""
    from .random import standard_normal

    _require_float(input, "normal_kernel_cpu")
    check_std(std)
    check_writable_without_overlap(input, "normal_")
    return _fill(input, mean + std * standard_normal(generator, input._shape))


def exponential_(input: Tensor, lambd: float = 1.0, *, generator: Any = None) -> Tensor:
    """Fill ``input`` in place with samples from the exponential distribution of rate ``lambd``."""
    from .random import numpy_generator

    if not input.dtype.is_floating_point:
        raise RuntimeError("Exponential distribution is a continuous probability distribution. dtype must be a "
                           f"floating point but you specified {input.dtype.scalar_name}")
    if not lambd > 0.0:
        raise RuntimeError(f"exponential_ expects lambda > 0.0, but found lambda={lambd:g}")
    check_writable_without_overlap(input, "exponential_")
    return _fill(input, numpy_generator(generator).standard_exponential(input._shape) / lambd)


_UNSET = object()


def random_(input: Tensor, from_: int | None = None, to: Any = _UNSET, *, generator: Any = None) -> Tensor:
    """Fill ``input`` in place with integers drawn uniformly: ``random_(to)`` from [0, to), ``random_(from_, to)``
    from [from_, to), ``random_(from_, None)`` from ``from_`` to the dtype's largest value; ``random_()`` from
    [0, largest], where floats stop at 2**mantissa so that every value is exact."""
    from .random import MANTISSA_DIGITS, integers

    if to is _UNSET:
        from_, to = 0, from_
    if to is None:
        top = 2 ** MANTISSA_DIGITS[input.dtype] if input.dtype.is_floating_point else int(_limits(input.dtype)[1])
        to = top + 1
        if not -(2**63) <= from_ < 2**63:
            raise ValueError("Overflow when unpacking long long")
        if from_ >= to:
            raise RuntimeError(f"random_ expects 'from' to be less than 'to', but got from={from_} >= to={to}")
        if not _within(from_, input.dtype):
            raise RuntimeError(f"from is out of bounds for {input.dtype.cpp_name}")
    else:
        check_random_bounds(from_, to, input.dtype)
    check_writable_without_overlap(input, "random_")
    return _fill(input, integers(generator, from_, to, input._shape))


register_methods(
    uniform_=uniform_,
    normal_=normal_,
    bernoulli_=bernoulli_,
    bernoulli=bernoulli,
    random_=random_,
    exponential_=exponential_,
    multinomial=multinomial,
)
