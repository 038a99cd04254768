"""The fp32 GEMM of the kernel library (ember_runtime.cpu.kernels, called through ember.jit.llvm.gemm_call): every
variant against a float64 numpy reference on random inputs, at tile edges, odd and prime sizes, strided operands,
with each epilogue; row splits are bitwise exact."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from llvmlite import ir

from ember.jit.llvm.gemm import GemmConfig, GemmEpilogue, GemmFlags, call_sgemm, gemm_config
from ember.jit.llvm.gemm_call import compile_sgemm
from ember_runtime.cpu import host_target
from ember_runtime.cpu.kernels import DECLARES_LIBRARY, library_ir

HOST_BITS = host_target().vector_bits
BITS = [bits for bits in (256, 512) if bits <= HOST_BITS]
pytestmark = pytest.mark.skipif(not BITS, reason="the GEMM needs AVX2 or AVX-512")


@cache
def kernel(trans_b: bool, bits: int, epilogue: GemmEpilogue | None = None, accumulate: bool = False):
    return compile_sgemm(trans_b=trans_b, vector_bits=bits, epilogue=epilogue, accumulate=accumulate)


def operands(rng, m: int, n: int, k: int, trans_b: bool, pad: int = 0):
    """Random A [m, k] and B ([k, n] or [n, k]); ``pad`` extra columns make the row strides exceed the width."""
    a = rng.standard_normal((m, k + pad), dtype=np.float32)[:, :k]
    shape = (n, k) if trans_b else (k, n)
    b = rng.standard_normal((shape[0], shape[1] + pad), dtype=np.float32)[:, :shape[1]]
    return a, b


def product(a, b, trans_b: bool) -> np.ndarray:
    return a.astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)


def assert_close(actual, expected, k: int):
    # fp32 accumulation over k terms of unit-variance products: the error grows like sqrt(k)
    np.testing.assert_allclose(actual, expected, rtol=1e-5 * max(k, 1), atol=1e-5 * np.sqrt(max(k, 1)))


def edge_sizes(bits: int) -> list[int]:
    config = gemm_config(bits)
    return sorted({1, 2, config.mr - 1, config.mr, config.mr + 1, config.nr - 1, config.nr, config.nr + 1})


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("trans_b", [False, True])
def test_tile_edges_and_primes(bits, trans_b):
    rng = np.random.default_rng(bits + trans_b)
    gemm = kernel(trans_b, bits)
    sizes = edge_sizes(bits) + [7, 13, 31, 53, 70]
    for m in sizes:
        for n in sizes:
            k = int(rng.integers(1, 70))
            a, b = operands(rng, m, n, k, trans_b)
            assert_close(gemm(a, b), product(a, b, trans_b), k)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("m,n,k", [(5, 9, 1), (1, 1, 1), (17, 3, 2), (256, 300, 129), (33, 47, 600)])
def test_shapes_including_k_one_and_several_k_blocks(bits, trans_b, m, n, k):
    rng = np.random.default_rng(m * n + k)
    a, b = operands(rng, m, n, k, trans_b)
    assert_close(kernel(trans_b, bits)(a, b), product(a, b, trans_b), k)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("trans_b", [False, True])
def test_strided_operands_and_output(bits, trans_b):
    rng = np.random.default_rng(7)
    m, n, k = 37, 41, 29
    a, b = operands(rng, m, n, k, trans_b, pad=5)
    out_storage = rng.standard_normal((m, n + 3), dtype=np.float32)
    out = out_storage[:, :n]
    kernel(trans_b, bits)(a, b, out=out)
    assert_close(out, product(a, b, trans_b), k)


@pytest.mark.parametrize("bits", BITS)
def test_padding_columns_of_a_strided_output_are_left_alone(bits):
    rng = np.random.default_rng(11)
    m, n, k = 15, 33, 20
    a, b = operands(rng, m, n, k, False)
    storage = rng.standard_normal((m, n + 7), dtype=np.float32)
    before = storage.copy()
    kernel(False, bits)(a, b, out=storage[:, :n])
    np.testing.assert_array_equal(storage[:, n:], before[:, n:])


EPILOGUES = [GemmEpilogue(bias=True), GemmEpilogue(activation="relu"), GemmEpilogue(residual="after"),
             GemmEpilogue(bias=True, activation="relu", residual="before"),
             GemmEpilogue(bias=True, activation="relu", residual="after"),
             GemmEpilogue(row_bias=True, activation="relu", residual="before")]


def apply_epilogue(acc, epilogue: GemmEpilogue, bias, residual):
    if epilogue.bias:
        acc = acc + bias
    if epilogue.row_bias:
        acc = acc + bias[:, None]
    if epilogue.residual == "before":
        acc = acc + residual
    if epilogue.activation == "relu":
        acc = np.maximum(acc, 0.0)
    if epilogue.residual == "after":
        acc = acc + residual
    return acc


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("epilogue", EPILOGUES, ids=repr)
@pytest.mark.parametrize("m,n,k", [(19, 35, 300), (3, 5, 1)])
def test_epilogues(bits, trans_b, epilogue, m, n, k):
    rng = np.random.default_rng(m + n + k)
    a, b = operands(rng, m, n, k, trans_b)
    bias = rng.standard_normal(m if epilogue.row_bias else n, dtype=np.float32)
    residual = rng.standard_normal((m, n + 4), dtype=np.float32)[:, :n]  # strided: ldr != n
    out = kernel(trans_b, bits, epilogue)(a, b, bias=bias, residual=residual)
    expected = apply_epilogue(product(a, b, trans_b), epilogue, bias.astype(np.float64), residual.astype(np.float64))
    assert_close(out, expected, k)
    if epilogue.activation == "relu" and epilogue.residual != "after":
        assert (out >= 0).all() and (out == 0).any()


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("trans_b", [False, True])
def test_accumulate_adds_into_c_before_the_epilogue(bits, trans_b):
    rng = np.random.default_rng(3)
    m, n, k = 23, 40, 270
    a, b = operands(rng, m, n, k, trans_b)
    c = rng.standard_normal((m, n), dtype=np.float32)
    bias = rng.standard_normal(n, dtype=np.float32)
    expected = np.maximum(c.astype(np.float64) + product(a, b, trans_b) + bias, 0.0)
    gemm = kernel(trans_b, bits, GemmEpilogue(bias=True, activation="relu"), accumulate=True)
    gemm(a, b, bias=bias, out=c)
    assert_close(c, expected, k)


@pytest.mark.parametrize("bits", BITS)
def test_k_zero_gives_the_epilogue_of_a_zero_product(bits):
    rng = np.random.default_rng(5)
    bias = rng.standard_normal(9, dtype=np.float32)
    out = kernel(True, bits, GemmEpilogue(bias=True))(np.zeros((4, 0), np.float32), np.zeros((9, 0), np.float32),
                                                       bias=bias)
    np.testing.assert_array_equal(out, np.broadcast_to(bias, (4, 9)))


@pytest.mark.parametrize("bits", BITS)
def test_row_ranges_compose_bitwise_into_the_full_product(bits):
    """The library cuts M at multiples of mr (where tiles start): any such split gives exactly the single call's
    result (the last tile, of fewer rows, may use another kernel: a one-row tile sums k in four chains)."""
    rng = np.random.default_rng(9)
    m, n, k = 61, 45, 530
    a, b = operands(rng, m, n, k, True)
    gemm = kernel(True, bits)
    whole = gemm(a, b)
    split = np.full((m, n), np.nan, np.float32)
    mr = gemm.config.mr
    for begin, end in [(0, mr), (mr, 3 * mr), (3 * mr, 4 * mr), (4 * mr, m)]:
        gemm(a, b, out=split, rows=(begin, end))
    np.testing.assert_array_equal(split, whole)


def test_relu_keeps_nan_like_torch():
    a = np.array([[np.nan, 1.0]], np.float32)
    b = np.ones((2, 3), np.float32)
    out = kernel(False, BITS[-1], GemmEpilogue(activation="relu"))(a, b)
    assert np.isnan(out).all()


@pytest.mark.skipif(HOST_BITS < 512, reason="the host lacks avx512f")
def test_avx512_library_uses_zmm_registers_and_the_vector_width_attributes():
    text = library_ir(gemm_config(512))
    assert '"prefer-vector-width"="512"' in text and "llvm.fma.v16f32" in text
    assert "zmm" in kernel(False, 512).compiled.assembly()


def test_avx2_library_uses_eight_lane_fmas():
    text = library_ir(gemm_config(256))
    assert "llvm.fma.v8f32" in text and "prefer-vector-width" not in text


def test_graph_modules_only_declare_the_library():
    module = ir.Module("t")
    i64, ptr = ir.IntType(64), ir.PointerType()
    fn = ir.Function(module, ir.FunctionType(ir.VoidType(), [i64, ptr, ptr, ptr, ptr]), "g")
    size, a, b, c, bias = fn.args
    builder = ir.IRBuilder(fn.append_basic_block())
    call_sgemm(builder, size, size, size, a, size, b, size, c, size, flags=GemmFlags.TRANS_B | GemmFlags.BIAS_COLS,
               bias=bias, pack_a=a, pack_b=b)
    builder.ret_void()
    text = str(module)
    assert DECLARES_LIBRARY.search(text) and "llvm.fma" not in text and "!ember.kernel_abi" in text


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="activation"):
        GemmEpilogue(activation="swish")
    with pytest.raises(ValueError, match="residual"):
        GemmEpilogue(residual="middle")
    with pytest.raises(ValueError, match="multiple"):
        GemmConfig(512, mr=14, nr=24, mc=140, kc=256, nc=4096)
    with pytest.raises(ValueError, match="exclude each other"):
        GemmEpilogue(bias=True, row_bias=True)
    with pytest.raises(ValueError, match="do not multiply"):
        kernel(False, BITS[-1])(np.ones((2, 3), np.float32), np.ones((4, 2), np.float32))


def small_blocks(bits: int) -> GemmConfig:
    """Cache blocks of two tiles and 16 k values: small products run every blocking loop several times."""
    config = gemm_config(bits)
    return GemmConfig(bits, config.mr, config.nr, mc=2 * config.mr, kc=16, nc=2 * config.nr)


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("prepacked", ["", "b", "ab"])
def test_every_blocking_loop_with_small_blocks(bits, trans_b, prepacked):
    rng = np.random.default_rng(bits + 2 * trans_b + 4 * len(prepacked))
    config = small_blocks(bits)
    epilogue = GemmEpilogue(bias=True, activation="relu", residual="after")
    gemm = compile_sgemm(trans_b=trans_b, vector_bits=bits, epilogue=epilogue, prepacked_b="b" in prepacked,
                         prepacked_a="a" in prepacked, config=config)
    # several blocks of every size, and enough work that the product is cut into several tasks
    m, n, k = 5 * config.mc + 1, 4 * config.nc + config.nr + 3, 20 * config.kc + 5
    a, b = operands(rng, m, n, k, trans_b, pad=2)
    bias = rng.standard_normal(n, dtype=np.float32)
    residual = rng.standard_normal((m, n), dtype=np.float32)
    out = gemm(gemm.pack_a(a) if "a" in prepacked else a, gemm.pack_b(b) if "b" in prepacked else b, bias=bias,
               residual=residual)
    expected = apply_epilogue(product(a, b, trans_b), epilogue, bias, residual)
    assert_close(out, expected, k)


@pytest.mark.parametrize("bits", BITS)
def test_prepacked_b_equals_packing_on_the_fly_bitwise(bits):
    rng = np.random.default_rng(21)
    a, b = operands(rng, 29, 70, 300, True)
    packed = compile_sgemm(trans_b=True, vector_bits=bits, prepacked_b=True)
    np.testing.assert_array_equal(packed(a, packed.pack_b(b)), kernel(True, bits)(a, b))
    with pytest.raises(TypeError, match="PackedB"):
        packed(a, b)
    with pytest.raises(RuntimeError, match="prepacked_b=True"):
        kernel(True, bits).pack_b(b)
    with pytest.raises(ValueError, match="do not multiply"):
        packed(a[:, :10], packed.pack_b(b))


@pytest.mark.parametrize("bits", BITS)
def test_prepacked_a_with_row_bias_equals_packing_on_the_fly_bitwise(bits):
    """A convolution's filters are A: packed once at compile time, with the bias per output channel (row)."""
    rng = np.random.default_rng(22)
    a, b = operands(rng, 45, 300, 75, False)
    bias = rng.standard_normal(45, dtype=np.float32)
    epilogue = GemmEpilogue(row_bias=True, activation="relu")
    packed = compile_sgemm(vector_bits=bits, prepacked_a=True, epilogue=epilogue)
    out = packed(packed.pack_a(a), b, bias=bias)
    np.testing.assert_array_equal(out, kernel(False, bits, epilogue)(a, b, bias=bias))
    assert_close(out, np.maximum(product(a, b, False) + bias[:, None], 0.0), 75)
    with pytest.raises(TypeError, match="PackedA"):
        packed(a, b, bias=bias)
    with pytest.raises(RuntimeError, match="prepacked_a=True"):
        kernel(False, bits).pack_a(a)
