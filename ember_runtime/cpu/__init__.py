"""The CPU engine: LLVM IR -> host machine code (llvmlite), cached per user."""

from .engine import CompiledModule, HostTarget, cache_dir, compile_module, host_target

__all__ = ["CompiledModule", "HostTarget", "cache_dir", "compile_module", "host_target"]
