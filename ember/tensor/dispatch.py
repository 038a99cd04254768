"""The dispatcher: the one road every primitive op takes from the Python API to a kernel.

``dispatch(op, *operands, **attrs)`` checks devices, applies the op's shape/dtype rule, runs the
device's kernel (or builds a view), and tells the registered hooks. Autograd and the tracer are such
hooks: they see every primitive op, so nothing built from primitives needs per-layer support.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..backends import get_backend
from .devices import as_device, device
from .registry import INPLACE, VIEW, Meta, OpDef
from .storage import Storage
from .tensor import Tensor

DispatchHook = Callable[[OpDef, tuple, dict, Any], None]
_hooks: list[DispatchHook] = []


class HookHandle:
    """Returned by :func:`add_dispatch_hook`; ``remove()`` unregisters the hook."""

    def __init__(self, hook: DispatchHook):
        self._hook = hook

    def remove(self) -> None:
        if self._hook in _hooks:
            _hooks.remove(self._hook)


def add_dispatch_hook(hook: DispatchHook) -> HookHandle:
    """Call ``hook(op, operands, attrs, outputs)`` after every dispatched op (tracer, autograd, profilers)."""
    _hooks.append(hook)
    return HookHandle(hook)


def _operand_device(op: OpDef, operands: tuple, explicit: device | None) -> device:
    found = None
    for pos, value in enumerate(operands):
        items = value if isinstance(value, list | tuple) else (value,)
        for item in items:
            if isinstance(item, Tensor):
                dev = item._storage.device
                if found is None:
                    found, first = dev, pos
                elif dev != found:
                    raise RuntimeError(
                        f"{op.name}: expected all tensors to be on the same device, but found at least two "
                        f"devices, {found} (operand {first}) and {dev} (operand {pos})"
                    )
    if found is None:
        return as_device(explicit)
    return found


def dispatch(op: OpDef, *operands: Any, device: device | str | None = None, **attrs: Any) -> Any:
    """Run primitive ``op`` on ``operands`` (tensors, lists of tensors, Python values) with ``attrs``.

    ``device`` only places ops without tensor operands (creation ops); it is never part of the op.
    """
    dev = _operand_device(op, operands, device)
    if op.kind == VIEW:
        # The view rule validates and computes the shape itself; its infer is derived from it.
        base = operands[0]
        shape, stride, offset = op.view(*operands, **attrs)
        out = Tensor._make(base._storage, shape, stride, offset, base.dtype)
    else:
        meta = op.infer(*operands, **attrs)
        storage_backend = get_backend(dev.type)
        kernel = op.kernels.get(dev.type)
        if kernel is None:
            raise NotImplementedError(f"op '{op.name}' has no kernel for device '{dev}'")
        arrays = [_kernel_value(v) for v in operands]
        result = kernel(*arrays, **attrs)
        if op.kind == INPLACE:
            out = operands[0]
            out._storage.version += 1
        elif isinstance(meta, Meta):
            out = _wrap(op, result, meta, dev, storage_backend)
        else:
            out = tuple(_wrap(op, r, m, dev, storage_backend) for r, m in zip(result, meta, strict=True))
    if _hooks:
        for hook in tuple(_hooks):
            hook(op, operands, attrs, out)
    return out


def _kernel_value(value: Any) -> Any:
    if isinstance(value, Tensor):
        return value._array()
    if isinstance(value, list | tuple) and value and isinstance(value[0], Tensor):
        return [v._array() for v in value]
    return value


def _wrap(op: OpDef, result: Any, meta: Meta, dev: device, backend) -> Any:
    buffer, shape, stride = backend.adopt(result, meta.dtype.np_dtype)
    if meta.shape is not None and shape != meta.shape:
        raise RuntimeError(
            f"internal error in op '{op.name}': its kernel returned shape {list(shape)} "
            f"but its shape rule says {list(meta.shape)}"
        )
    return Tensor._make(Storage(buffer, dev, backend), shape, stride, 0, meta.dtype)
