"""Compiling LLVM IR for the host CPU with llvmlite, and caching the machine code per user.

``compile_module(ir_text)`` parses the IR, optimises it with LLVM's new pass manager at O3 (loop and SLP
vectorisation on) for the host's CPU name and features, JIT-compiles it with MCJIT and returns a
:class:`CompiledModule` whose functions are called through ctypes (which releases the GIL during the call).

The object code is cached on disk, keyed by the IR text, the target (triple, CPU name, features) and the LLVM
version, so a second compile of the same IR on the same machine skips optimisation and code generation. Cache
files are written atomically (temp file + ``os.replace``); a damaged or foreign cache entry is ignored and
rebuilt, never trusted blindly: its header must name the same key.

Modules may call code compiled once per process and registered with ``llvmlite.binding.add_symbol``: the worker
pool (:mod:`.threadpool`, ``ember_parallel_for``) and the kernel library (:mod:`.kernels`, ``ember_rt_*``).
``compile_module`` loads each one a module's IR names before linking the module, so they only ``declare`` them.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import llvmlite.binding as llvm

__all__ = ["CompiledModule", "HostTarget", "cache_dir", "compile_generated", "compile_module", "host_target",
           "source_identity"]

_CACHE_MAGIC = b"EMBEROBJ1\n"
_lock = threading.Lock()


@dataclass(frozen=True)
class HostTarget:
    """The machine code target: LLVM triple, CPU name and feature string, and the LLVM version."""

    triple: str
    cpu: str
    features: str
    llvm_version: str

    @property
    def feature_set(self) -> frozenset[str]:
        return frozenset(f[1:] for f in self.features.split(",") if f.startswith("+"))

    @property
    def vector_bits(self) -> int:
        """The widest vector the generated code should use: 512 with AVX-512F, 256 with AVX2, else 128."""
        features = self.feature_set
        if "avx512f" in features:
            return 512
        if "avx2" in features:
            return 256
        return 128

    def key(self) -> str:
        return f"{self.triple}|{self.cpu}|{self.features}|llvm-{self.llvm_version}"


@lru_cache(maxsize=1)
def host_target() -> HostTarget:
    """This machine's target (LLVM is initialised on first use)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    version = ".".join(map(str, llvm.llvm_version_info))
    return HostTarget(llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten(),
                      version)


def _new_target_machine() -> llvm.TargetMachine:
    target = host_target()
    return llvm.Target.from_triple(target.triple).create_target_machine(
        cpu=target.cpu, features=target.features, opt=3, reloc="default", codemodel="jitdefault", jit=True)


@lru_cache(maxsize=1)
def _target_machine() -> llvm.TargetMachine:
    """The target machine for optimisation and assembly. Each execution engine gets a new one of its own: an
    engine takes ownership of (and frees) the target machine it is given."""
    return _new_target_machine()


def cache_dir() -> Path | None:
    """The per-user object cache (``$EMBER_CACHE_DIR``, else ``$XDG_CACHE_HOME/ember`` or ``~/.cache/ember``);
    ``EMBER_CACHE_DIR=`` (empty) disables it."""
    configured = os.environ.get("EMBER_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "ember" / "cpu"


def _optimise(module: llvm.ModuleRef) -> None:
    options = llvm.create_pipeline_tuning_options(speed_level=3)
    options.loop_vectorization = True
    options.slp_vectorization = True
    options.loop_unrolling = True
    builder = llvm.create_pass_builder(_target_machine(), options)
    builder.getModulePassManager().run(module, builder)


class _ObjectCache:
    """MCJIT's object cache hooks, backed by one file per key."""

    def __init__(self, key: str, directory: Path | None):
        self.key = key
        self.path = None if directory is None else directory / f"{key[:40]}.o"
        self.hit = False

    def load(self) -> bytes | None:
        if self.path is None:
            return None
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        header = _CACHE_MAGIC + self.key.encode() + b"\n"
        if not data.startswith(header):
            return None  # another key's file, or a damaged one: rebuild
        self.hit = True
        return data[len(header):]

    def notify(self, _module: llvm.ModuleRef, buffer: bytes) -> None:
        if self.path is None or self.hit:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".o")
            with os.fdopen(fd, "wb") as f:
                f.write(_CACHE_MAGIC + self.key.encode() + b"\n" + buffer)
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only or full cache only costs the next compile its time


class CompiledModule:
    """Machine code in memory for one LLVM module; :meth:`function` gives ctypes callables."""

    def __init__(self, engine: llvm.ExecutionEngine, module: llvm.ModuleRef, from_cache: bool, ir_text: str | None,
                 make_ir: Callable[[], str] | None = None):
        self._engine = engine
        self._module = module  # kept alive with the engine that owns its code
        self.from_cache = from_cache
        self._ir_text = ir_text
        self._make_ir = make_ir

    @property
    def ir_text(self) -> str:
        """The module's IR (a generated module loaded from the cache generates it on demand)."""
        if self._ir_text is None:
            self._ir_text = self._make_ir()
        return self._ir_text

    def address(self, name: str) -> int:
        address = self._engine.get_function_address(name)
        if not address:
            raise KeyError(f"the compiled module has no function named '{name}'")
        return address

    def function(self, name: str, restype, *argtypes) -> ctypes._CFuncPtr:
        return ctypes.CFUNCTYPE(restype, *argtypes)(self.address(name))

    def assembly(self) -> str:
        """The optimised module as host assembly (EMBER_DEBUG=5)."""
        module = llvm.parse_assembly(self.ir_text)
        _optimise(module)
        return _target_machine().emit_assembly(module)


def compile_generated(identity: str, make_ir: Callable[[], str]) -> CompiledModule:
    """Compile the module ``make_ir()`` returns, cached under ``identity`` instead of its IR text.

    For the runtime's own modules (the kernel library, the worker pool), whose IR takes longer to generate in
    Python than their cached object takes to load: ``identity`` must name everything the IR depends on (the
    generator's source, its configuration), and a cache hit never calls ``make_ir``.
    """
    target = host_target()
    digest = hashlib.sha256(f"{target.key()}\ngenerated\n{identity}".encode()).hexdigest()
    cached = _ObjectCache(digest, cache_dir()).load()
    if cached is None:
        return compile_module(make_ir(), _digest=digest)
    with _lock:
        module = llvm.parse_assembly("")  # MCJIT takes the cached object in place of compiling the (empty) module
        module.triple = target.triple
        engine = llvm.create_mcjit_compiler(module, _new_target_machine())
        engine.set_object_cache(lambda _m, _b: None, lambda _m: cached)
        engine.finalize_object()
    return CompiledModule(engine, module, True, None, make_ir)


def source_identity(*paths: str | os.PathLike) -> str:
    """A digest of the files ``paths`` (a generator's source), for :func:`compile_generated`'s identity."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def compile_module(ir_text: str, *, use_cache: bool = True, _digest: str | None = None) -> CompiledModule:
    """Optimise and compile ``ir_text`` (a whole LLVM module) for this machine.

    Raises:
        ValueError: the IR does not parse or verify; the message carries LLVM's diagnostic.
    """
    if "ember_parallel_for" in ir_text:  # parallel kernels call the worker pool: load it before linking them
        from . import threadpool

        threadpool.ensure_pool()
    from .kernels import DECLARES_LIBRARY, ensure_library

    if DECLARES_LIBRARY.search(ir_text):  # a graph calling the kernel library: load it before linking the graph
        ensure_library()
    target = host_target()
    digest = _digest or hashlib.sha256(f"{target.key()}\n{ir_text}".encode()).hexdigest()
    cache = _ObjectCache(digest, cache_dir() if use_cache else None)
    cached = cache.load()
    with _lock:  # LLVM's context and MCJIT are not safe to drive from several threads at once
        try:
            module = llvm.parse_assembly(ir_text)
            module.verify()
        except RuntimeError as error:
            raise ValueError(f"invalid LLVM IR: {error}") from None
        module.triple = target.triple
        if cached is None:
            _optimise(module)
        engine = llvm.create_mcjit_compiler(module, _new_target_machine())
        engine.set_object_cache(cache.notify, lambda _m: cached)
        engine.finalize_object()
    return CompiledModule(engine, module, cached is not None, ir_text)
