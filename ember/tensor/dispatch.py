"""The dispatcher: the one road every primitive op takes from the Python API to a kernel.

``dispatch(op, *operands, **attrs)`` checks devices, applies the op's shape/dtype rule, runs the
device's kernel (or builds a view), and tells the registered hooks. Autograd and the tracer are such
hooks: they see every primitive op, so nothing built from primitives needs per-layer support.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backends import Backend, get_backend
from .devices import as_device, device
from .registry import INPLACE, VIEW, Meta, OpDef
from .storage import Storage
from .tensor import Tensor, guard_hooks

_new = object.__new__
DispatchHook = Callable[[OpDef, tuple, dict, Any], None]
_hooks: list[DispatchHook] = []


class HookHandle:
    """Returned by :func:`add_dispatch_hook`; ``remove()`` unregisters the hook."""

    def __init__(self, hook: DispatchHook):
        self._hook = hook

    def remove(self) -> None:
        if self._hook in _hooks:
            _hooks.remove(self._hook)


# Autograd sits above this layer; it installs its recorder here (ember.autograd imports set them).
_autograd_record: Callable[[OpDef, tuple, dict, Any], None] | None = None
_autograd_check_inplace: Callable[[OpDef, tuple], None] | None = None
_grad_enabled: Callable[[], bool] = bool


def install_autograd(record: Callable[[OpDef, tuple, dict, Any], None],
                     check_inplace: Callable[[OpDef, tuple], None], grad_enabled: Callable[[], bool]) -> None:
    """Called once by ``ember.autograd``: record graphs for ops whose operands take part in autograd."""
    global _autograd_record, _autograd_check_inplace, _grad_enabled
    _autograd_record, _autograd_check_inplace, _grad_enabled = record, check_inplace, grad_enabled


def grad_mode_enabled() -> bool:
    """Autograd's grad mode as this layer sees it (False before ember.autograd is imported)."""
    return _grad_enabled()


def records_graph(*values: Any) -> bool:
    """Whether an op on ``values`` would record an autograd graph: grad mode is on and a tensor requires grad."""
    return _grad_enabled() and any(
        isinstance(v, Tensor) and v._autograd is not None and v._autograd.requires_grad for v in values
    )


def add_dispatch_hook(hook: DispatchHook) -> HookHandle:
    """Call ``hook(op, operands, attrs, outputs)`` after every dispatched op (tracer, autograd, profilers)."""
    _hooks.append(hook)
    return HookHandle(hook)


def _device_error(op: OpDef, operands: tuple) -> RuntimeError:
    found = []
    for pos, value in enumerate(operands):
        items = value if isinstance(value, list | tuple) else (value,)
        found.extend((pos, item.device) for item in items if isinstance(item, Tensor))
    (pos_a, dev_a) = found[0]
    pos_b, dev_b = next((p, d) for p, d in found if d != dev_a)
    return RuntimeError(
        f"{op.name}: expected all tensors to be on the same device, but found at least two devices, "
        f"{dev_a} (operand {pos_a}) and {dev_b} (operand {pos_b})"
    )


def dispatch(op: OpDef, *operands: Any, device: device | str | None = None, **attrs: Any) -> Any:
    """Run primitive ``op`` on ``operands`` (tensors, lists of tensors, Python values) with ``attrs``.

    ``device`` only places ops without tensor operands (creation ops); it is never part of the op.
    """
    if op.kind == VIEW:
        # A view needs no kernel and no arrays: its rule validates and computes the window itself.
        base = operands[0]
        shape, stride, offset = op.view(*operands, **attrs)
        out = _new(Tensor)
        out._storage = base._storage
        out._shape = shape
        out._stride = stride
        out._offset = offset
        out._dtype = base._dtype
        out._np = None
        out._autograd = None
        out._base = base._base if base._base is not None else base
        if base._autograd is not None and _autograd_record is not None:
            _autograd_record(op, operands, attrs, out)
        if _hooks:
            _notify(op, operands, attrs, out)
        return out
    # One pass finds the device and the kernel-side arrays; this loop is the eager hot path.
    dev = backend = None
    tracked = False
    arrays = []
    for value in operands:
        if isinstance(value, Tensor):
            storage = value._storage
            if dev is None:
                dev, backend = storage.device, storage.backend
            elif storage.device is not dev and storage.device != dev:
                raise _device_error(op, operands)
            array = value._np
            arrays.append(array if array is not None else value._array())
            if value._autograd is not None:
                tracked = True
        elif type(value) in (list, tuple) and value and isinstance(value[0], Tensor):
            for item in value:
                if item._autograd is not None:
                    tracked = True
                item_dev = item._storage.device
                if dev is None:
                    dev = item_dev
                elif item_dev is not dev and item_dev != dev:
                    raise _device_error(op, operands)
            arrays.append([item._array() for item in value])
        else:
            arrays.append(value)
    if dev is None:
        dev = as_device(device)
    meta = op.infer(*operands, **attrs)
    kernel = op.kernels.get(dev.type)
    if kernel is None:
        get_backend(dev.type)
        raise NotImplementedError(f"op '{op.name}' has no kernel for device '{dev}'")
    if op.kind == INPLACE and tracked and _autograd_check_inplace is not None:
        _autograd_check_inplace(op, operands)
    if op.kind == INPLACE and not operands[0]._storage.writable:
        raise RuntimeError(
            f"{op.name}: cannot write to a tensor whose memory is a read-only NumPy array (from_numpy of a "
            "non-writeable array); clone() it first"
        )
    if guard_hooks:  # tracing: the kernel's own size tests (linspace's steps <= 1) decide nothing in the graph
        paused = guard_hooks[:]
        guard_hooks.clear()
        try:
            result = kernel(*arrays, **attrs)
        finally:
            guard_hooks[:] = paused
    else:
        result = kernel(*arrays, **attrs)
    if op.kind == INPLACE:
        out = operands[0]
        out._storage.version += 1
    else:
        if backend is None or backend.device_type != dev.type:
            backend = get_backend(dev.type)
        if type(meta) is Meta:
            out = _wrap(op, result, meta, dev, backend)
        else:
            out = tuple(_wrap(op, r, m, dev, backend) for r, m in zip(result, meta, strict=True))
    if tracked and _autograd_record is not None:
        _autograd_record(op, operands, attrs, out)
    if _hooks:
        _notify(op, operands, attrs, out)
    return out


def _notify(op: OpDef, operands: tuple, attrs: dict, out: Any) -> None:
    for hook in tuple(_hooks):
        hook(op, operands, attrs, out)


def _wrap(op: OpDef, result: Any, meta: Meta, dev: device, backend: Backend) -> Tensor:
    data, shape, stride, view = backend.adopt(result, meta.dtype.np_dtype)
    if shape != meta.shape and meta.shape is not None:
        raise RuntimeError(
            f"internal error in op '{op.name}': its kernel returned shape {list(shape)} "
            f"but its shape rule says {list(meta.shape)}"
        )
    # Storage and Tensor are built field by field: their constructors' call overhead is a third of a tiny op.
    storage = _new(Storage)
    storage.data = data
    storage.device = dev
    storage.backend = backend
    storage.version = 0
    storage.writable = True
    t = _new(Tensor)
    t._storage = storage
    t._shape = shape
    t._stride = stride
    t._offset = 0
    t._dtype = meta.dtype
    t._np = view
    t._autograd = None
    t._base = None
    return t
