"""The element-wise ops on one element: ``emit_elementwise(b, node, args) -> value`` in IR.

Each op computes as its eager kernel does (``ember/tensor/ops/unary.py``, ``arithmetic.py``,
``comparison.py``, ``ternary.py``, ``copy.py``): operands are converted to the op's compute dtype (the result's
dtype for arithmetic and math functions, the operands' promoted dtype for comparisons), Python numbers become
constants of it, and NaN propagates through maximum/minimum/clamp/relu. exp, expm1, log, log1p, tanh and
float32 erf (and sigmoid, silu, gelu and softplus, built on them) are inline IR from :mod:`.vmath`, so loops
over them vectorise; the other math functions are LLVM intrinsics or the C library's (``erfcf``...), which
the JIT resolves in the running process. Cases whose results are undefined in LLVM (integer division by
zero, over-wide shifts) are not lowered, so the interpreter runs them.
"""

from __future__ import annotations

import math
from typing import Any

import llvmlite.ir as ir

from ...tensor import dtypes
from ...tensor.ops.promotion import exact_rule, promote
from ..ir import Node, Value
from . import vmath
from .codegen import I1, llvm_type, unsupported

__all__ = ["call_math", "cast_value", "constant", "emit_elementwise", "intrinsic", "math_function", "select_extreme"]

_VMATH = {"exp": vmath.exp, "expm1": vmath.expm1, "log": vmath.log, "log1p": vmath.log1p, "tanh": vmath.tanh,
          "erf": vmath.erf}
_INTRINSIC_UNARY = {"exp2": "exp2", "log2": "log2", "log10": "log10", "sqrt": "sqrt",
                    "sin": "sin", "cos": "cos", "tan": "tan", "asin": "asin", "acos": "acos", "atan": "atan",
                    "sinh": "sinh", "cosh": "cosh", "floor": "floor", "ceil": "ceil",
                    "trunc": "trunc", "round": "roundeven"}
_LIBM_UNARY = ("erfc", "asinh", "acosh", "atanh")
_ROUNDING = ("floor", "ceil", "trunc", "round")
_COMPARE = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _is_float(dt: dtypes.dtype) -> bool:
    return dt.is_floating_point


def constant(dt: dtypes.dtype, number: Any) -> ir.Constant:
    """``number`` as an IR constant of ``dt``'s compute type."""
    ty = llvm_type(dt)
    if dt is dtypes.bool:
        return ir.Constant(ty, int(bool(number)))
    if _is_float(dt):
        return ir.Constant(ty, float(number))
    return ir.Constant(ty, int(number))


def cast_value(b: ir.IRBuilder, value: ir.Value, src: dtypes.dtype, dst: dtypes.dtype) -> ir.Value:
    """``value`` of dtype ``src`` (a scalar or a vector of them) converted to ``dst`` as NumPy's ``astype`` does
    (NaN to bool is True)."""
    if src is dst:
        return value
    target = llvm_type(dst)
    vector = isinstance(value.type, ir.VectorType)
    if vector:
        target = ir.VectorType(target, value.type.count)
    scalar_target = target.element if vector else target
    zero = ir.Constant(value.type, [0.0 if _is_float(src) else 0] * value.type.count) if vector else \
        ir.Constant(value.type, 0.0 if _is_float(src) else 0)
    if dst is dtypes.bool:
        if _is_float(src):
            return b.fcmp_unordered("!=", value, zero)
        return b.icmp_unsigned("!=", value, zero)
    if _is_float(dst):
        if _is_float(src):
            return b.fpext(value, target) if isinstance(scalar_target, ir.DoubleType) else b.fptrunc(value, target)
        return b.sitofp(value, target) if src.is_signed else b.uitofp(value, target)
    if _is_float(src):
        # Through int64 then wrapped, as NumPy converts: out-of-range values of narrow types wrap, not saturate.
        wide = b.fptosi(value, ir.VectorType(ir.IntType(64), value.type.count) if vector else ir.IntType(64))
        return wide if scalar_target.width == 64 else b.trunc(wide, target)
    src_bits, dst_bits = (value.type.element if vector else value.type).width, scalar_target.width
    if src_bits == dst_bits:
        return value
    if src_bits > dst_bits:
        return b.trunc(value, target)
    return b.sext(value, target) if src.is_signed else b.zext(value, target)


def call_math(b: ir.IRBuilder, name: str, ty: ir.Type, *args: ir.Value) -> ir.Value:
    module = b.module
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ty, [ty] * len(args)), name)
    return b.call(fn, list(args))


def intrinsic(b: ir.IRBuilder, name: str, *args: ir.Value) -> ir.Value:
    """A call of the LLVM intrinsic ``llvm.<name>`` on ``args`` (all of one scalar or vector type)."""
    ty = args[0].type
    suffix = f"v{ty.count}{ty.element.intrinsic_name}" if isinstance(ty, ir.VectorType) else ty.intrinsic_name
    return call_math(b, f"llvm.{name}.{suffix}", ty, *args)


def _libm(b: ir.IRBuilder, name: str, x: ir.Value) -> ir.Value:
    return call_math(b, name + ("f" if isinstance(x.type, ir.FloatType) else ""), x.type, x)


def math_function(b: ir.IRBuilder, name: str, x: ir.Value) -> ir.Value:
    """``name`` (a key of ``_VMATH``: exp, expm1, log, log1p, tanh, erf) of the float/double scalar or vector
    ``x``: inline vectorisable IR, or the C library's function for a double erf (scalars only)."""
    if name in vmath.HAS_FLOAT64 or x.type == ir.FloatType() or (isinstance(x.type, ir.VectorType)
                                                                 and x.type.element == ir.FloatType()):
        return _VMATH[name](b, x)
    return _libm(b, name, x)


def select_extreme(b: ir.IRBuilder, dt: dtypes.dtype, x: ir.Value, y: ir.Value, largest: bool) -> ir.Value:
    if _is_float(dt):
        return intrinsic(b, "maximum" if largest else "minimum", x, y)  # NaN propagates, as np.maximum
    if dt is dtypes.bool or not dt.is_signed:
        pick = b.icmp_unsigned(">" if largest else "<", x, y)
    else:
        pick = b.icmp_signed(">" if largest else "<", x, y)
    return b.select(pick, x, y)


class _Args:
    """A node's operands in IR: each as (value, dtype), Python numbers kept as they are until typed."""

    def __init__(self, b: ir.IRBuilder, node: Node, values: dict[Value, ir.Value]):
        self.b, self.node = b, node
        self.items = [(values[x], x.dtype) if isinstance(x, Value) else x for x in node.operands]

    def get(self, i: int, dt: dtypes.dtype) -> ir.Value | None:
        """Operand ``i`` converted to ``dt`` (None stays None)."""
        item = self.items[i]
        if item is None:
            return None
        if isinstance(item, tuple):
            return cast_value(self.b, item[0], item[1], dt)
        if isinstance(item, bool | int | float):
            if isinstance(item, float) and not _is_float(dt):
                raise unsupported(self.node.op, "a float scalar operand of an integer computation")
            return constant(dt, item)
        raise unsupported(self.node.op, f"an operand of type {type(item).__name__}")

    def common_dtype(self) -> dtypes.dtype:
        """The operands' promoted dtype (PyTorch's rules: 0-d tensors and numbers are weaker)."""
        stand_ins = [x if not isinstance(x, Value) else _StandIn(x) for x in self.node.operands if x is not None]
        return promote(exact_rule, *stand_ins).out


class _StandIn:
    """A graph value in place of a tensor, for the promotion rules (they read ``_dtype`` and ``_shape``)."""

    def __init__(self, value: Value):
        self._dtype, self._shape = value.dtype, value.shape


def emit_elementwise(b: ir.IRBuilder, node: Node, values: dict[Value, ir.Value]) -> ir.Value:
    """The result of the element-wise ``node`` on one element, ``values`` mapping its operand values to IR."""
    op, out = node.op, node.output.dtype
    if out in (dtypes.float16, dtypes.bfloat16) or any(v.dtype in (dtypes.float16, dtypes.bfloat16)
                                                        for v in node.input_values()):
        raise unsupported(op, "float16/bfloat16 are not supported")
    args = _Args(b, node, values)
    attrs = node.attrs
    if op == "cast":
        return args.get(0, out)
    if op in _COMPARE or op in ("logical_and", "logical_or", "logical_xor"):
        return _compare(b, op, args)
    if op in ("logical_not", "isnan", "isinf", "isposinf", "isneginf", "isfinite"):
        return _predicate(b, op, args)
    if op == "where":
        return b.select(args.get(0, dtypes.bool), args.get(1, out), args.get(2, out))
    if op in ("clamp", "lerp"):
        return _binary(b, op, out, args, attrs)
    x = args.get(0, out)
    if op in _INTRINSIC_UNARY and (_is_float(out) or op not in _ROUNDING):
        if op == "round" and attrs.get("decimals", 0) != 0:
            raise unsupported(op, "round with decimals")
        return intrinsic(b, _INTRINSIC_UNARY[op], x)
    if op in _ROUNDING:
        return x  # rounding an integer keeps it
    if op in _VMATH and _is_float(out):
        return math_function(b, op, x)
    if op in _LIBM_UNARY:
        return _libm(b, op, x)
    unary = _unary(b, op, out, x, attrs)
    if unary is not None:
        return unary
    return _binary(b, op, out, args, attrs)


def _unary(b: ir.IRBuilder, op: str, out: dtypes.dtype, x: ir.Value, attrs: dict) -> ir.Value | None:
    ty = x.type
    one = constant(out, 1) if out is not dtypes.bool else None
    if op == "neg":
        return b.fneg(x) if _is_float(out) else b.neg(x)
    if op == "abs":
        if _is_float(out):
            return intrinsic(b, "fabs", x)
        return x if out is dtypes.bool or not out.is_signed else b.select(b.icmp_signed("<", x, constant(out, 0)),
                                                                          b.neg(x), x)
    if op == "relu":
        return select_extreme(b, out, x, constant(out, 0), True)
    if op == "sign":
        zero = constant(out, 0)
        if out is dtypes.bool:
            return x
        if _is_float(out):
            pos, neg = b.fcmp_ordered(">", x, zero), b.fcmp_ordered("<", x, zero)
            return b.fsub(b.uitofp(pos, ty), b.uitofp(neg, ty))
        pos = b.icmp_signed(">", x, zero) if out.is_signed else b.icmp_unsigned(">", x, zero)
        neg = b.icmp_signed("<", x, zero) if out.is_signed else ir.Constant(I1, 0)
        return b.sub(b.zext(pos, ty), b.zext(neg, ty))
    if not _is_float(out):
        if op == "bitwise_not":
            return b.not_(x)
        return None
    if op == "sigmoid":
        return b.fdiv(one, b.fadd(one, math_function(b, "exp", b.fneg(x))))
    if op == "silu":
        return b.fdiv(x, b.fadd(one, math_function(b, "exp", b.fneg(x))))
    if op == "rsqrt":
        return b.fdiv(one, intrinsic(b, "sqrt", x))
    if op == "reciprocal":
        return b.fdiv(one, x)
    if op == "frac":
        return b.fsub(x, intrinsic(b, "trunc", x))
    if op == "gelu":
        half = constant(out, 0.5)
        if attrs.get("approximate", "none") == "tanh":
            cube = b.fmul(b.fmul(x, x), x)
            inner = b.fmul(constant(out, math.sqrt(2.0 / math.pi)), b.fadd(x, b.fmul(constant(out, 0.044715), cube)))
            return b.fmul(b.fmul(half, x), b.fadd(one, math_function(b, "tanh", inner)))
        erf = math_function(b, "erf", b.fmul(x, constant(out, math.sqrt(0.5))))
        return b.fmul(b.fmul(x, half), b.fadd(one, erf))
    if op == "softplus":
        beta, threshold = attrs.get("beta", 1.0), attrs.get("threshold", 20.0)
        scaled = b.fmul(x, constant(out, beta))
        soft = b.fdiv(math_function(b, "log1p", math_function(b, "exp", scaled)), constant(out, beta))
        return b.select(b.fcmp_ordered(">", scaled, constant(out, threshold)), x, soft)
    return None


def _compare(b: ir.IRBuilder, op: str, args: _Args) -> ir.Value:
    if op.startswith("logical_"):
        x, y = args.get(0, dtypes.bool), args.get(1, dtypes.bool)
        return {"logical_and": b.and_, "logical_or": b.or_, "logical_xor": b.xor}[op](x, y)
    dt = args.common_dtype()
    x, y = args.get(0, dt), args.get(1, dt)
    if _is_float(dt):
        # NaN compares unequal to everything: ordered predicates, except != which is true for NaN.
        return b.fcmp_unordered("!=", x, y) if op == "ne" else b.fcmp_ordered(_COMPARE[op], x, y)
    if dt is dtypes.bool or not dt.is_signed:
        return b.icmp_unsigned(_COMPARE[op], x, y)
    return b.icmp_signed(_COMPARE[op], x, y)


def _predicate(b: ir.IRBuilder, op: str, args: _Args) -> ir.Value:
    if op == "logical_not":
        return b.not_(args.get(0, dtypes.bool))
    value, dt = args.items[0]
    if not _is_float(dt):
        return ir.Constant(I1, int(op == "isfinite"))
    inf = ir.Constant(value.type, math.inf)
    magnitude = intrinsic(b, "fabs", value)
    if op == "isnan":
        return b.fcmp_unordered("uno", value, value)
    if op == "isinf":
        return b.fcmp_ordered("==", magnitude, inf)
    if op == "isposinf":
        return b.fcmp_ordered("==", value, inf)
    if op == "isneginf":
        return b.fcmp_ordered("==", value, ir.Constant(value.type, -math.inf))
    return b.fcmp_ordered("<", magnitude, inf)


def _binary(b: ir.IRBuilder, op: str, out: dtypes.dtype, args: _Args, attrs: dict) -> ir.Value:
    is_float = _is_float(out)
    if op == "clamp":
        x = args.get(0, out)
        low, high = args.get(1, out), args.get(2, out)
        if low is not None:
            x = select_extreme(b, out, x, low, True)
        return x if high is None else select_extreme(b, out, x, high, False)
    if op == "lerp":
        start, stop, weight = args.get(0, out), args.get(1, out), args.get(2, out)
        diff = b.fsub(stop, start)
        near = b.fcmp_ordered("<", intrinsic(b, "fabs", weight), constant(out, 0.5))
        return b.select(near, b.fadd(start, b.fmul(weight, diff)),
                        b.fsub(stop, b.fmul(diff, b.fsub(constant(out, 1), weight))))
    x, y = args.get(0, out), args.get(1, out)
    if op in ("add", "sub"):
        alpha = attrs.get("alpha", 1)
        if alpha != 1:
            y = b.and_(y, constant(out, alpha)) if out is dtypes.bool else \
                (b.fmul if is_float else b.mul)(y, constant(out, alpha))
        if out is dtypes.bool:
            return b.or_(x, y)
        return (b.fadd if is_float else b.add)(x, y) if op == "add" else (b.fsub if is_float else b.sub)(x, y)
    if op == "mul":
        return b.and_(x, y) if out is dtypes.bool else (b.fmul if is_float else b.mul)(x, y)
    if op in ("maximum", "minimum"):
        return select_extreme(b, out, x, y, op == "maximum")
    if op in ("bitwise_and", "bitwise_or", "bitwise_xor") and not is_float:
        return {"bitwise_and": b.and_, "bitwise_or": b.or_, "bitwise_xor": b.xor}[op](x, y)
    if not is_float:
        raise unsupported(op, f"integer operands ({out})")
    if op == "div":
        quotient = b.fdiv(x, y)
        mode = attrs.get("rounding_mode")
        if mode == "floor":
            return _floor_divide(b, x, y)
        return intrinsic(b, "trunc", quotient) if mode == "trunc" else quotient
    if op == "pow":
        return intrinsic(b, "pow", x, y)
    if op == "atan2":
        return intrinsic(b, "atan2", x, y)
    if op in ("fmod", "remainder"):
        rest = b.frem(x, y)
        if op == "fmod":
            return rest
        # Python's modulo takes the divisor's sign.
        zero = constant(out, 0)
        fix = b.and_(b.fcmp_ordered("!=", rest, zero),
                     b.xor(b.fcmp_ordered("<", rest, zero), b.fcmp_ordered("<", y, zero)))
        return b.select(fix, b.fadd(rest, y), rest)
    raise unsupported(op, "no LLVM lowering for this element-wise op")


def _floor_divide(b: ir.IRBuilder, x: ir.Value, y: ir.Value) -> ir.Value:
    # NumPy's floor_divide: (x - fmod(x, y)) / y, floored, which is exact where floor(x / y) is not.
    rest = b.frem(x, y)
    quotient = b.fdiv(b.fsub(x, rest), y)
    zero = ir.Constant(x.type, 0.0)
    fix = b.and_(b.fcmp_ordered("!=", rest, zero), b.xor(b.fcmp_ordered("<", rest, zero),
                                                         b.fcmp_ordered("<", y, zero)))
    return b.select(fix, b.fsub(quotient, ir.Constant(x.type, 1.0)), quotient)
