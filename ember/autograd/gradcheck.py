"""``gradcheck`` / ``gradgradcheck``: autograd's gradients against central finite differences (use float64)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..tensor.creation import zeros_like
from ..tensor.random import randn
from ..tensor.tensor import Tensor
from .api import grad
from .grad_mode import enable_grad, no_grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when analytical and numerical gradients disagree."""


def _as_tuple(x: Any) -> tuple:
    return x if isinstance(x, tuple) else tuple(x) if isinstance(x, list) else (x,)


def _outputs(fn: Callable, inputs: tuple) -> tuple:
    return tuple(o for o in _as_tuple(fn(*inputs)) if isinstance(o, Tensor) and o.dtype.is_floating_point)


def _numerical_jacobians(fn: Callable, inputs: tuple, eps: float) -> list:
    """Per differentiable input, per output: a (input numel, output numel) central-difference Jacobian."""
    with no_grad():
        outs = _outputs(fn, inputs)
        result = []
        for x in inputs:
            if not (isinstance(x, Tensor) and x.requires_grad):
                continue
            flat = x.detach().numpy().reshape(-1) if x.is_contiguous() else None
            if flat is None:
                raise ValueError("gradcheck needs contiguous inputs")
            jac = [np.zeros((x.numel(), o.numel())) for o in outs]
            for i in range(x.numel()):
                original = flat[i].item()
                flat[i] = original + eps
                plus = [np.array(o.numpy(), dtype=np.float64).reshape(-1) for o in _outputs(fn, inputs)]
                flat[i] = original - eps
                minus = [np.array(o.numpy(), dtype=np.float64).reshape(-1) for o in _outputs(fn, inputs)]
                flat[i] = original
                for k in range(len(outs)):
                    jac[k][i] = (plus[k] - minus[k]) / (2 * eps)
            result.append(jac)
    return result


def _analytical_jacobians(fn: Callable, inputs: tuple) -> list:
    diff_inputs = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    outs = _outputs(fn, inputs)
    jac = [[np.zeros((x.numel(), o.numel())) for o in outs] for x in diff_inputs]
    for k, o in enumerate(outs):
        if not o.requires_grad:
            continue  # a constant output (a gradient that is zeros whatever the inputs): its Jacobian is zero
        for j in range(o.numel()):
            seed = zeros_like(o)
            seed.view(-1)[j] = 1.0
            grads = grad(o, diff_inputs, seed, retain_graph=True, allow_unused=True)
            for i, g in enumerate(grads):
                if g is not None:
                    jac[i][k][:, j] = np.asarray(g.detach().numpy(), dtype=np.float64).reshape(-1)
    return jac


def gradcheck(func: Callable, inputs: Tensor | Sequence[Any], *, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True, **_: Any) -> bool:
    """Check ``func``'s autograd gradients against finite differences at ``inputs`` (float64 recommended).

    Returns True, or raises :class:`GradcheckError` naming the input and output whose Jacobians differ.
    """
    inputs = _as_tuple(inputs)
    for x in inputs:
        if isinstance(x, Tensor) and x.requires_grad and x.dtype.itemsize < 8:
            import warnings

            warnings.warn("gradcheck: input is not double precision; the check may fail from rounding alone",
                          stacklevel=2)
    numerical = _numerical_jacobians(func, inputs, eps)
    analytical = _analytical_jacobians(func, inputs)
    for i, (num_i, ana_i) in enumerate(zip(numerical, analytical, strict=True)):
        for k, (num, ana) in enumerate(zip(num_i, ana_i, strict=True)):
            if not np.allclose(ana, num, rtol=rtol, atol=atol):
                if not raise_exception:
                    return False
                raise GradcheckError(f"Jacobian mismatch for output {k} with respect to input {i},\n"
                                     f"numerical:{num}\nanalytical:{ana}\n")
    return True


def gradgradcheck(func: Callable, inputs: Tensor | Sequence[Any], grad_outputs: Any = None, *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True, **_: Any) -> bool:
    """Check second derivatives: gradcheck of the function ``inputs, v -> grad(func(inputs), inputs, v)``."""
    inputs = _as_tuple(inputs)
    outs = _outputs(func, inputs)
    if grad_outputs is None:
        grad_outputs = tuple(randn(o.shape, dtype=o.dtype).requires_grad_() for o in outs)
    grad_outputs = _as_tuple(grad_outputs)
    diff_positions = [i for i, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_derivatives(*args: Any) -> tuple:
        xs, vs = args[: len(inputs)], args[len(inputs):]
        # The numerical Jacobian calls this under no_grad; the first derivatives still need their graph.
        with enable_grad():
            found = grad(_outputs(func, xs), [xs[i] for i in diff_positions], list(vs), create_graph=True,
                         allow_unused=True)
        return tuple(g for g in found if g is not None)

    return gradcheck(first_derivatives, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)
