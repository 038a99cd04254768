"""Data types and PyTorch's type-promotion rules.

Each :class:`dtype` wraps the NumPy dtype that stores it on the CPU; bfloat16 comes from ``ml_dtypes``.
Promotion follows c10's ``promoteTypes`` table and ``ResultTypeState``: dimensioned tensors outrank
0-d tensors, which outrank Python scalars, unless the lower-ranked operand is of a higher category
(bool < integer < floating).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

__all__ = [
    "dtype",
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "half",
    "float",
    "double",
    "short",
    "int",
    "long",
    "promote_types",
    "result_type",
    "get_default_dtype",
    "set_default_dtype",
    "can_cast",
]

_builtin_bool = bool
_builtin_int = int
_builtin_float = float

# Categories order the kinds for promotion: a float scalar lifts an int tensor, never the reverse.
BOOL, INTEGRAL, FLOATING = 0, 1, 2


class dtype:  # noqa: N801 - PyTorch's public name
    """A tensor element type such as ``ember.float32``.

    Attributes:
        itemsize: bytes per element.
        is_floating_point: True for float16, bfloat16, float32, float64.
        is_signed: True for signed integers and floats.
        scalar_name: c10's ScalarType name, as PyTorch's messages quote it ("not implemented for 'Float'").
        cpp_name: the C++ element type as ``typeid`` prints it ("expected dtype long int", "c10::Half").
        checked_name: the C++ type c10's ``checked_convert`` names in its overflow error ("int64_t").
    """

    __slots__ = ("name", "itemsize", "is_floating_point", "is_signed", "is_complex", "category", "np_dtype", "_rank",
                 "scalar_name", "cpp_name", "checked_name")

    def __init__(self, name: str, np_dtype, category: _builtin_int, rank: _builtin_int, scalar_name: str,
                 cpp_name: str, checked_name: str):
        self.name = name
        self.scalar_name = scalar_name
        self.cpp_name = cpp_name
        self.checked_name = checked_name
        self.np_dtype = np.dtype(np_dtype)
        self.itemsize = self.np_dtype.itemsize
        self.category = category
        self.is_floating_point = category == FLOATING
        self.is_signed = name not in ("bool", "uint8")
        self.is_complex = False
        self._rank = rank

    def __repr__(self) -> str:
        return f"ember.{self.name}"

    def __reduce__(self):
        return (_dtype_from_name, (self.name,))

    def to_real(self) -> dtype:
        return self


# name, storage, category, rank, then PyTorch's three spellings: ScalarType, typeid and checked_convert names.
bool = dtype("bool", np.bool_, BOOL, 0, "Bool", "bool", "bool")  # noqa: A001 - shadows builtins as torch does
uint8 = dtype("uint8", np.uint8, INTEGRAL, 1, "Byte", "unsigned char", "uint8_t")
int8 = dtype("int8", np.int8, INTEGRAL, 1, "Char", "signed char", "int8_t")
int16 = dtype("int16", np.int16, INTEGRAL, 2, "Short", "short int", "int16_t")
int32 = dtype("int32", np.int32, INTEGRAL, 3, "Int", "int", "int")
int64 = dtype("int64", np.int64, INTEGRAL, 4, "Long", "long int", "int64_t")
float16 = dtype("float16", np.float16, FLOATING, 1, "Half", "c10::Half", "c10::Half")
bfloat16 = dtype("bfloat16", ml_dtypes.bfloat16, FLOATING, 1, "BFloat16", "c10::BFloat16", "c10::BFloat16")
float32 = dtype("float32", np.float32, FLOATING, 2, "Float", "float", "float")
float64 = dtype("float64", np.float64, FLOATING, 3, "Double", "double", "double")

half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001

ALL_DTYPES = (bool, uint8, int8, int16, int32, int64, float16, bfloat16, float32, float64)
_BY_NAME = {d.name: d for d in ALL_DTYPES}
_BY_NUMPY = {d.np_dtype: d for d in ALL_DTYPES}


def _dtype_from_name(name: str) -> dtype:
    return _BY_NAME[name]


def from_numpy_dtype(np_dtype) -> dtype:
    """The ember dtype that stores ``np_dtype``; TypeError for types ember lacks (complex, strings...)."""
    found = _BY_NUMPY.get(np.dtype(np_dtype))
    if found is None:
        raise TypeError(
            f"can't convert np.ndarray of type {np.dtype(np_dtype)}. The only supported types are: "
            "float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, and bool."
        )
    return found


def _promote_pair(a: dtype, b: dtype) -> dtype:
    if a is b:
        return a
    if a.category != b.category:
        return a if a.category > b.category else b
    if a.category == FLOATING:
        if {a, b} == {float16, bfloat16}:
            return float32
        return a if a._rank > b._rank else b
    # Integral: uint8 mixed with a signed type needs the next signed width that holds both.
    if uint8 in (a, b):
        other = b if a is uint8 else a
        return int16 if other is int8 else other
    return a if a._rank > b._rank else b


_PROMOTE_TABLE = {(a, b): _promote_pair(a, b) for a in ALL_DTYPES for b in ALL_DTYPES}


def promote_types(type1: dtype, type2: dtype) -> dtype:
    """The smallest dtype both ``type1`` and ``type2`` can be converted to, as ``torch.promote_types``."""
    return _PROMOTE_TABLE[(type1, type2)]


def can_cast(from_: dtype, to: dtype) -> _builtin_bool:
    """True when casting ``from_`` to ``to`` does not lower the category (torch.can_cast)."""
    return from_.category <= to.category


_default_dtype = float32


def get_default_dtype() -> dtype:
    """The floating dtype used for Python floats and for creation functions given no dtype."""
    return _default_dtype


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype; only floating types are accepted, as in PyTorch."""
    global _default_dtype
    if not isinstance(d, dtype) or not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_dtype = d


def scalar_dtype(value) -> dtype:
    """The dtype PyTorch gives a Python scalar: bool, int64 or the default float dtype."""
    if isinstance(value, _builtin_bool | np.bool_):
        return bool
    if isinstance(value, _builtin_int | np.integer):
        return int64
    if isinstance(value, _builtin_float | np.floating):
        return _default_dtype
    raise TypeError(f"expected a Tensor or a Python number (bool, int, float), got {type(value).__name__}")


def _combine_categories(higher: dtype | None, lower: dtype | None) -> dtype | None:
    if higher is None:
        return lower
    if lower is None or higher.is_floating_point:
        return higher
    if higher is bool or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> dtype:
    """The dtype of an elementwise op over ``operands`` (tensors and Python scalars), as torch.result_type.

    Tensors with dims outrank 0-d tensors, which outrank Python scalars, unless a lower-ranked operand
    is of a higher category: ``int32_tensor + 1.5`` is float32, ``uint8_tensor + 300`` stays uint8.
    """
    dim_result = zero_result = wrapped_result = None
    for op in operands:
        op_dtype = getattr(op, "dtype", None)
        if isinstance(op_dtype, dtype):
            if op.dim() > 0:
                dim_result = op_dtype if dim_result is None else _PROMOTE_TABLE[(dim_result, op_dtype)]
            else:
                zero_result = op_dtype if zero_result is None else _PROMOTE_TABLE[(zero_result, op_dtype)]
        else:
            sd = scalar_dtype(op)
            wrapped_result = sd if wrapped_result is None else _PROMOTE_TABLE[(wrapped_result, sd)]
    found = _combine_categories(dim_result, _combine_categories(zero_result, wrapped_result))
    if found is None:
        raise TypeError("result_type needs at least one operand")
    return found
