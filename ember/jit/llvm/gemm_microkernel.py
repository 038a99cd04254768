"""The GEMM's IR building blocks live in the runtime's kernel library (:mod:`ember_runtime.cpu.gemm_microkernel`);
the backend's lowerings import the generic loop helper they share from here."""

from ember_runtime.cpu.gemm_microkernel import counted_loop

__all__ = ["counted_loop"]
