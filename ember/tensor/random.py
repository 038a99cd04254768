"""Random numbers: ``ember.Generator``, the default generator and seeding, and the sampling functions.

Design. Sampling is not a registry op: a :class:`Generator` wraps NumPy's PCG64 bit generator and makes
every draw on the host; the sample then enters its device through the creation path
(:func:`ember.tensor`), and the in-place fills (``uniform_``, ``normal_``, ``bernoulli_``, ``random_``,
``exponential_``) write it with ``copy_``, which dispatches and bumps the version counter. So one seed
gives the same values on every device and in every process, the generator state is a few bytes that
``get_state``/``set_state`` round-trip exactly, and no backend needs random kernels. Values differ from
PyTorch's (another bit generator); their distributions, ranges, dtypes, shapes and errors follow it.

The samplers shared by the functions here and the ``Tensor`` methods in :mod:`.sampling` live in this
module; they take the generator argument as users pass it (None means the default generator).
"""

from __future__ import annotations

import secrets
from typing import Any

import numpy as np

from ..backends import get_backend
from . import dtypes
from .creation import accepts_requires_grad, tensor
from .devices import as_device, device
from .ops.promotion import not_implemented
from .scalars import checked_scalar
from .shape_rules import broadcast_shapes, parse_size
from .tensor import Tensor, escape_hooks, notify_escape

__all__ = ["Generator", "default_generator", "manual_seed", "seed", "initial_seed", "get_rng_state", "set_rng_state",
           "rand", "randn", "randint", "randperm", "normal", "rand_like", "randn_like", "randint_like"]

DeviceLike = device | str | int | None

# PyTorch's default CPU seed, so that unseeded programs are reproducible as they are with PyTorch.
DEFAULT_SEED = 67280421310721
# Bytes of each field of a state tensor: PCG64's 128-bit state and increment, its buffered-word flag and
# buffered 32-bit word, and the seed the state started from.
_STATE_WIDTHS = (16, 16, 8, 8, 8)
_STATE_BYTES = sum(_STATE_WIDTHS)

# Significand bits: uniform floats are multiples of 2**-digits, so every draw is exact in the dtype.
MANTISSA_DIGITS = {dtypes.float16: 11, dtypes.bfloat16: 8, dtypes.float32: 24, dtypes.float64: 53}


class Generator:
    """A pseudo-random number generator: the state behind every sampling function's ``generator=``.

    Args:
        device: the device whose tensors it serves (default CPU). Draws are made on the host, so the
            device only has to be one this build of ember can use.

    Example::

        >>> g = ember.Generator().manual_seed(42)
        >>> a = ember.rand(3, generator=g)
        >>> _ = g.manual_seed(42)
        >>> bool((ember.rand(3, generator=g) == a).all())
        True
    """

    def __init__(self, device: DeviceLike = "cpu"):
        self._device = as_device(device)
        get_backend(self._device.type)  # refuses devices this build cannot use, with the backend's reason
        self.manual_seed(DEFAULT_SEED)

    @property
    def device(self) -> device:
        return self._device

    def manual_seed(self, seed: int) -> Generator:
        """Reset the state from ``seed`` (any int in [-2**63, 2**64); negatives wrap as uint64); returns self."""
        if isinstance(seed, float) or not (isinstance(seed, int) or hasattr(seed, "__index__")):
            raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
        seed = seed.__index__()
        if not -(2**63) <= seed < 2**64:
            raise ValueError("Overflow when unpacking long long")
        self._seed = seed % 2**64
        self._bits = np.random.PCG64(self._seed)
        self._numpy = np.random.Generator(self._bits)
        return self

    def seed(self) -> int:
        """Seed from the operating system's entropy and return the seed chosen."""
        chosen = secrets.randbits(64)
        self.manual_seed(chosen)
        return chosen

    def initial_seed(self) -> int:
        """The seed the current state started from."""
        return self._seed

    def get_state(self) -> Tensor:
        """The full state as a uint8 tensor, for :meth:`set_state`."""
        st = self._bits.state
        words = (st["state"]["state"], st["state"]["inc"], st["has_uint32"], st["uinteger"], self._seed)
        raw = b"".join(w.to_bytes(n, "little") for w, n in zip(words, _STATE_WIDTHS, strict=True))
        return tensor(np.frombuffer(raw, dtype=np.uint8).copy())

    def set_state(self, new_state: Tensor) -> Generator:
        """Restore a state returned by :meth:`get_state`; returns self."""
        if not isinstance(new_state, Tensor):
            raise TypeError(f"expected a ember.ByteTensor, but got {type(new_state).__name__}")
        if new_state.dtype is not dtypes.uint8:
            raise TypeError("RNG state must be a ember.ByteTensor")
        if new_state.numel() != _STATE_BYTES:
            raise RuntimeError(f"Expected a PCG64 generator state of size {_STATE_BYTES} but found the input RNG "
                               f"state size to be {new_state.numel()}")
        raw = np.ascontiguousarray(new_state.cpu().numpy()).tobytes()
        fields, at = [], 0
        for width in _STATE_WIDTHS:
            fields.append(int.from_bytes(raw[at:at + width], "little"))
            at += width
        state, inc, has_uint32, uinteger, seed = fields
        self._seed = seed
        self._bits.state = {"bit_generator": "PCG64", "state": {"state": state, "inc": inc},
                            "has_uint32": has_uint32, "uinteger": uinteger}
        return self

    def __repr__(self) -> str:
        return f"<ember.Generator device={self._device} initial_seed={self._seed}>"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Seed the default generator (``int(seed)`` is used, as in PyTorch) and return it."""
    return default_generator.manual_seed(int(seed))


def seed() -> int:
    """Seed the default generator non-deterministically and return the seed."""
    return default_generator.seed()


def initial_seed() -> int:
    """The seed of the default generator's current state."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The default generator's state as a uint8 tensor."""
    return default_generator.get_state()


def set_rng_state(new_state: Tensor) -> None:
    """Restore the default generator's state from :func:`get_rng_state`."""
    default_generator.set_state(new_state)


# ----- shared sampling helpers ----------------------------------------------------------------------------
def numpy_generator(generator: Generator | None) -> np.random.Generator:
    """The NumPy generator behind a user's ``generator=`` argument."""
    if escape_hooks:
        notify_escape(None, "random numbers")
    if generator is None:
        return default_generator._numpy
    if not isinstance(generator, Generator):
        raise TypeError(f"generator must be an ember.Generator, not {type(generator).__name__}")
    return generator._numpy


def unit_uniform(generator: Generator | None, shape: tuple, dtype: dtypes.dtype) -> np.ndarray:
    """Uniform floats in [0, 1), each a multiple of 2**-digits of ``dtype`` so that none rounds up to 1."""
    digits = MANTISSA_DIGITS[dtype]
    return numpy_generator(generator).integers(0, 1 << digits, size=shape, dtype=np.int64) * 2.0**-digits


def standard_normal(generator: Generator | None, shape: tuple) -> np.ndarray:
    return numpy_generator(generator).standard_normal(shape)


def integers(generator: Generator | None, low: int, high: int, shape: tuple) -> np.ndarray:
    """int64 integers drawn uniformly from [low, high); ``high`` may be 2**63, one past int64's largest value."""
    if high > 2**63 - 1:
        return numpy_generator(generator).integers(low, 2**63 - 1, size=shape, dtype=np.int64, endpoint=True)
    return numpy_generator(generator).integers(low, high, size=shape, dtype=np.int64)


def place(values: np.ndarray, dtype: dtypes.dtype, device: DeviceLike) -> Tensor:
    """A host sample as a new tensor of ``dtype`` on ``device``: the creation path every draw takes."""
    return tensor(values, dtype=dtype, device=device)


def _dtype_arg(dtype: Any, default: dtypes.dtype) -> dtypes.dtype:
    if dtype is None:
        return default
    if not isinstance(dtype, dtypes.dtype):
        raise TypeError(f"dtype must be an ember.dtype, got {dtype!r}")
    return dtype


def _float_dtype(dtype: dtypes.dtype | None, kernel: str) -> dtypes.dtype:
    dtype = _dtype_arg(dtype, dtypes.get_default_dtype())
    if not dtype.is_floating_point:
        raise not_implemented(kernel, dtype)
    return dtype


# ----- creation functions ---------------------------------------------------------------------------------
@accepts_requires_grad
def rand(*size: Any, generator: Generator | None = None, dtype: dtypes.dtype | None = None,
         device: DeviceLike = None) -> Tensor:
    """A tensor of shape ``size`` filled with uniform samples from [0, 1).

    Example::

        >>> _ = ember.manual_seed(0)
        >>> ember.rand(2, 3).shape
        ember.Size([2, 3])
    """
    shape = parse_size(size)
    dtype = _float_dtype(dtype, "check_uniform_bounds")
    return place(unit_uniform(generator, shape, dtype), dtype, device)


@accepts_requires_grad
def randn(*size: Any, generator: Generator | None = None, dtype: dtypes.dtype | None = None,
          device: DeviceLike = None) -> Tensor:
    """A tensor of shape ``size`` filled with samples from the standard normal distribution."""
    shape = parse_size(size)
    dtype = _float_dtype(dtype, "normal_kernel_cpu")
    return place(standard_normal(generator, shape), dtype, device)


def _randint_args(low: Any, high: Any, size: Any) -> tuple[int, int, Any]:
    """Sort out ``randint(high, size)`` from ``randint(low, high, size)``."""
    if size is None:
        if high is None:
            raise TypeError("randint() missing 1 required positional argument: 'size'")
        low, high, size = 0, low, high
    elif high is None:
        low, high = 0, low
    for name, value, position in (("low", low, 1), ("high", high, 2)):
        if isinstance(value, float | bool) or not isinstance(value, int):
            raise TypeError(f"randint(): argument '{name}' (position {position}) must be int, not "
                            f"{type(value).__name__}")
    if not isinstance(size, tuple | list):
        raise TypeError(f"randint(): argument 'size' (position 2) must be tuple of ints, not {type(size).__name__}")
    return low, high, size


def randint(low: int = 0, high: int | None = None, size: Any = None, *, generator: Generator | None = None,
            dtype: dtypes.dtype | None = None, device: DeviceLike = None) -> Tensor:
    """A tensor of shape ``size`` with integers drawn uniformly from [low, high); ``randint(high, size)`` too.

    The dtype defaults to int64; floating dtypes hold the integers as floats.

    Example::

        >>> ember.randint(3, 10, (2, 2)).dtype
        ember.int64
    """
    from .sampling import check_random_bounds

    low, high, size = _randint_args(low, high, size)
    shape = parse_size((size,))
    dtype = _dtype_arg(dtype, dtypes.int64)
    check_random_bounds(low, high, dtype)
    return place(integers(generator, low, high, shape), dtype, device)


def randperm(n: int, *, generator: Generator | None = None, dtype: dtypes.dtype | None = None,
             device: DeviceLike = None) -> Tensor:
    """A random permutation of ``0 .. n-1`` (int64 unless ``dtype`` says otherwise)."""
    if isinstance(n, float | bool) or not (isinstance(n, int) or hasattr(n, "__index__")):
        raise TypeError(f"randperm(): argument 'n' (position 1) must be int, not {type(n).__name__}")
    (n,) = parse_size((n,))
    dtype = _dtype_arg(dtype, dtypes.int64)
    if dtype is dtypes.bool:
        raise not_implemented("randperm", dtype)
    if n > 0 and dtype is not dtypes.int64:
        checked_scalar(n - 1, dtype)
    return place(numpy_generator(generator).permutation(n), dtype, device)


@accepts_requires_grad
def normal(mean: Tensor | float, std: Tensor | float = 1.0, size: Any = None, *,
           generator: Generator | None = None, dtype: dtypes.dtype | None = None,
           device: DeviceLike = None) -> Tensor:
    """Samples from normal distributions, in PyTorch's four forms.

    * ``normal(mean: Tensor, std: Tensor)``: one sample per element of the broadcast mean and std.
    * ``normal(mean: Tensor, std: float = 1.0)`` and ``normal(mean: float, std: Tensor)``: likewise.
    * ``normal(mean: float, std: float, size)``: ``size`` samples, with ``dtype`` and ``device``.

    The tensor forms give the dtype of ``mean`` (of ``std`` when only it is a tensor) on its device.
    """
    from .sampling import check_std

    tensors = [t for t in (mean, std) if isinstance(t, Tensor)]
    if not tensors:
        if size is None:
            raise TypeError("normal() received an invalid combination of arguments: (float mean, float std) needs "
                            "a size")
        check_std(std)
        dtype = _float_dtype(dtype, "normal_kernel_cpu")
        shape = parse_size((size,))
        return place(float(mean) + float(std) * standard_normal(generator, shape), dtype, device)
    if size is not None or dtype is not None or device is not None:
        raise TypeError("normal(): size, dtype and device apply only to normal(float mean, float std, size)")
    result_dtype = tensors[0].dtype
    for t in tensors:
        if not t.dtype.is_floating_point:
            raise not_implemented("normal_kernel_cpu", t.dtype)
    if isinstance(std, Tensor):
        std_values = std.cpu().numpy().astype(np.float64)
        if not np.all(std_values >= 0.0):
            raise RuntimeError("normal expects all elements of std >= 0.0")
    else:
        check_std(std)
        std_values = float(std)
    mean_values = mean.cpu().numpy().astype(np.float64) if isinstance(mean, Tensor) else float(mean)
    shape = broadcast_shapes(*(t._shape for t in tensors), names=("mean", "std") if len(tensors) == 2 else None)
    values = mean_values + std_values * standard_normal(generator, shape)
    return place(values, result_dtype, tensors[0].device)


# ----- _like variants -------------------------------------------------------------------------------------
@accepts_requires_grad
def rand_like(input: Tensor, *, generator: Generator | None = None, dtype: dtypes.dtype | None = None,
              device: DeviceLike = None) -> Tensor:
    """``rand`` with the shape of ``input`` and, by default, its dtype and device."""
    return rand(input._shape, generator=generator, dtype=dtype or input.dtype, device=device or input.device)


@accepts_requires_grad
def randn_like(input: Tensor, *, generator: Generator | None = None, dtype: dtypes.dtype | None = None,
               device: DeviceLike = None) -> Tensor:
    """``randn`` with the shape of ``input`` and, by default, its dtype and device."""
    return randn(input._shape, generator=generator, dtype=dtype or input.dtype, device=device or input.device)


def randint_like(input: Tensor, low: int = 0, high: int | None = None, *, generator: Generator | None = None,
                 dtype: dtypes.dtype | None = None, device: DeviceLike = None) -> Tensor:
    """``randint`` with the shape of ``input``: ``randint_like(input, high)`` or ``(input, low, high)``."""
    if high is None:
        low, high = 0, low
    return randint(low, high, input._shape, generator=generator, dtype=dtype or input.dtype,
                   device=device or input.device)
