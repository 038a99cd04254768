"""Checking an artifact's LLVM IR before it is compiled: only allow-listed external symbols, no inline assembly.

The runtime never runs native code it finds in a file: it compiles the IR itself (the engine's per-user object
cache makes the second load cheap). Compiling IR is only as safe as what the IR can reach, so the IR may
declare (use without defining) only:

- LLVM intrinsics of the target-independent math, vector and memory families (:data:`INTRINSIC_FAMILIES`):
  not those of a CPU architecture, not those that reach machine state (``llvm.read_register``), and no unknown
  ``llvm.`` name (LLVM would compile it into a call of a symbol that does not exist);
- the C math library functions the lowerings call (``erf``, ``erfcf``, ``asinh``...: :data:`LIBM_FUNCTIONS`);
- ``memcpy``, ``memset``, ``memmove``;
- the runtime's own entry points: the kernel library's (``ember_rt_sgemm``, ``ember_rt_pack_a``, ``ember_rt_pack_b``)
  and the thread pool's ``ember_parallel_for``.

and each such function must resolve (a registered runtime symbol or a libc/libm function of the process): an
unresolved one would become a call of address 0.

Declared global variables (``@environ = external global ptr``) are refused, as are ``llvm.global_ctors`` and
``llvm.global_dtors`` (code that would run at load time), inline assembly (``call void asm "..."``) and
module-level assembly (``module asm "..."``). This keeps an artifact from calling ``system`` or raw syscalls;
it does not make arbitrary IR memory-safe (see ``docs/artifact-format.md``, Security).
"""

from __future__ import annotations

import ctypes
import platform
import re

import llvmlite.binding as llvm

from .cpu.kernels import PACK_A, PACK_B, SGEMM
from .cpu.threadpool import PARALLEL_FOR
from .errors import ForbiddenSymbol, InlineAssembly, MalformedSection

__all__ = ["INTRINSIC_FAMILIES", "LIBM_FUNCTIONS", "RUNTIME_ENTRY_POINTS", "RUNTIME_FUNCTIONS", "is_allowed",
           "verify_ir"]

_LIBM_DOUBLE = ("sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh", "asinh", "acosh",
                "atanh", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "pow", "sqrt", "cbrt", "hypot",
                "erf", "erfc", "tgamma", "lgamma", "fmod", "remainder", "floor", "ceil", "trunc", "round", "rint",
                "nearbyint", "fabs", "fmin", "fmax", "copysign", "fma", "ldexp", "nextafter")
# Every libm function above in double and float (``f`` suffix) precision.
LIBM_FUNCTIONS = frozenset(_LIBM_DOUBLE) | frozenset(name + "f" for name in _LIBM_DOUBLE)
RUNTIME_FUNCTIONS = frozenset({"memcpy", "memset", "memmove"}) | LIBM_FUNCTIONS
# The runtime's own entry points graphs may call: the kernel library's and the thread pool's parallel-for (its
# thread-count controls are the host's business, not an artifact's).
RUNTIME_ENTRY_POINTS = frozenset({SGEMM, PACK_A, PACK_B, PARALLEL_FOR})
# The LLVM intrinsic families the IR may use (``llvm.<family>.<type suffixes>``): target-independent arithmetic,
# math, vector and memory intrinsics. Intrinsics outside it (``llvm.read_register``, ``llvm.x86.*``...) and unknown
# ``llvm.`` names (which LLVM would compile into calls of a missing symbol) are refused.
INTRINSIC_FAMILIES = frozenset({
    "fma", "fmuladd", "sqrt", "fabs", "copysign", "minimum", "maximum", "minnum", "maxnum", "floor", "ceil", "trunc",
    "round", "roundeven", "rint", "nearbyint", "lround", "llround", "lrint", "llrint", "exp", "exp2", "exp10", "log",
    "log2", "log10", "pow", "powi", "sin", "cos", "tan", "asin", "acos", "atan", "atan2", "sinh", "cosh", "tanh",
    "ldexp", "frexp", "is.fpclass", "canonicalize", "smax", "smin", "umax", "umin", "abs", "ctpop", "ctlz", "cttz",
    "bswap", "bitreverse", "fshl", "fshr", "sadd.with.overflow", "uadd.with.overflow", "ssub.with.overflow",
    "usub.with.overflow", "smul.with.overflow", "umul.with.overflow", "sadd.sat", "uadd.sat", "ssub.sat", "usub.sat",
    "fptosi.sat", "fptoui.sat", "masked.load", "masked.store", "masked.gather", "masked.scatter",
    "masked.expandload", "masked.compressstore", "vector.reduce.add", "vector.reduce.mul", "vector.reduce.and",
    "vector.reduce.or", "vector.reduce.xor", "vector.reduce.smax", "vector.reduce.smin", "vector.reduce.umax",
    "vector.reduce.umin", "vector.reduce.fadd", "vector.reduce.fmul", "vector.reduce.fmax", "vector.reduce.fmin",
    "vector.reduce.fmaximum", "vector.reduce.fminimum", "prefetch", "memcpy", "memmove", "memset", "memcpy.inline",
    "memset.inline", "lifetime.start", "lifetime.end", "assume", "expect", "invariant.start", "invariant.end",
    "experimental.noalias.scope.decl", "stacksave", "stackrestore"})
# Target-specific intrinsic families, by the host architectures (platform.machine()) that may use them.
_ARCH_INTRINSICS = {"x86.sse2.pause": ("x86_64", "amd64", "i386", "i686")}
_MODULE_ASM = re.compile(r"^module asm ", re.MULTILINE)
_ASM_WORD = re.compile(r"\basm\b")


def _intrinsic_allowed(name: str, machine: str) -> bool:
    body = name[len("llvm."):]
    for family, machines in _ARCH_INTRINSICS.items():
        if body == family:
            return machine in machines
    parts = body.split(".")
    # The family is the name without its type suffixes (``masked.load`` in ``llvm.masked.load.v16f32.p0``).
    return any(".".join(parts[:n]) in INTRINSIC_FAMILIES for n in range(1, len(parts) + 1))


def is_allowed(name: str, machine: str | None = None) -> bool:
    """Whether the IR may declare the external function ``name`` (on a host of architecture ``machine``)."""
    if name.startswith("llvm."):
        return _intrinsic_allowed(name, (machine or platform.machine()).lower())
    return name in RUNTIME_FUNCTIONS or name in RUNTIME_ENTRY_POINTS


def _resolves(name: str) -> bool:
    """Whether MCJIT will find ``name``: registered by the runtime (``llvm.add_symbol``) or in the process's
    libraries (libc, libm). An unresolved call would jump to address 0 when the code runs."""
    if name.startswith("llvm."):
        return True  # lowered by the code generator (an allowed family) or to a libm call checked by the engine
    # The kernel library and the thread pool register their entry points when first built.
    if name.startswith("ember_parallel_"):
        from .cpu.threadpool import ensure_pool

        ensure_pool()
    elif name.startswith("ember_rt_"):
        from .cpu.kernels import ensure_library

        ensure_library()
    if llvm.address_of_symbol(name):
        return True
    try:
        getattr(ctypes.CDLL(None), name)
    except AttributeError:
        return False
    return True


def _has_inline_asm(module: llvm.ModuleRef) -> str | None:
    """The name of the first function that calls inline assembly, else None."""
    for function in module.functions:
        for block in function.blocks:
            for instruction in block.instructions:
                if instruction.opcode not in ("call", "callbr", "invoke"):
                    continue
                if any(operand.value_kind.name == "inline_asm" for operand in instruction.operands):
                    return function.name
    return None


def verify_ir(ir_text: str, *, path: str = "<memory>", part: str = "LLVM IR",
              offset: int | None = None) -> dict[str, str]:
    """Parse ``ir_text`` and refuse what the runtime must not compile (module docstring); return the functions
    it defines with external linkage, by name, with their types (``"i64 (ptr, ptr)"``), so a caller can check
    an entry point before asking the compiled code for it.

    Args:
        ir_text: a whole LLVM module, as text.
        path, part, offset: where the IR comes from, for the error messages.

    Raises:
        MalformedSection: the IR does not parse or verify.
        ForbiddenSymbol: a declared function or global outside the allow-list.
        InlineAssembly: inline or module-level assembly.
    """
    try:
        module = llvm.parse_assembly(ir_text)
        module.verify()
    except RuntimeError as error:
        raise MalformedSection(path, part, f"the LLVM IR does not parse: {str(error).strip()}", offset=offset) \
            from None
    printed = str(module)  # LLVM's own printing: no comment or spelling can hide a construct from these checks
    if _MODULE_ASM.search(printed):
        raise InlineAssembly(path, part, "the module holds module-level assembly", offset=offset,
                             expected="no assembly", found="module asm")
    for function in module.functions:
        if not function.is_declaration:
            continue
        if not is_allowed(function.name):
            raise ForbiddenSymbol(path, part, f"declares the external function @{function.name}, which is outside "
                                  "the runtime's allow-list", offset=offset,
                                  expected="math/vector/memory llvm.* intrinsics, libm, memcpy/memset/memmove, "
                                  + ", ".join(sorted(RUNTIME_ENTRY_POINTS)), found=f"@{function.name}")
        if not _resolves(function.name):
            raise ForbiddenSymbol(path, part, f"declares the external function @{function.name}, which this "
                                  "runtime does not provide", offset=offset, expected="a symbol the runtime or "
                                  "the C library defines", found=f"@{function.name}")
    for variable in module.global_variables:
        if variable.is_declaration or variable.name.startswith("llvm."):
            raise ForbiddenSymbol(path, part, f"declares the global @{variable.name}, which the runtime does not "
                                  "provide", offset=offset, expected="no external or llvm.* globals",
                                  found=f"@{variable.name}")
    # Walking every instruction costs milliseconds on a large module: only do it where "asm" appears at all.
    if _ASM_WORD.search(printed):
        caller = _has_inline_asm(module)
        if caller is not None:
            raise InlineAssembly(path, part, f"function @{caller} calls inline assembly", offset=offset,
                                 expected="no assembly", found="call ... asm")
    return {f.name: str(f.global_value_type) for f in module.functions
            if not f.is_declaration and f.linkage == llvm.Linkage.external}
