"""``repr(tensor)`` as PyTorch prints it, and ``ember.set_printoptions``.

The layout follows ``torch/_tensor_str.py`` rule for rule (so that the same tensor prints the same text,
with ``ember.`` where PyTorch says ``torch.``): one formatter chooses, from the finite non-zero values of
the whole tensor (or of its summarised edges), between integer mode (``1.``), fixed point with
``precision`` digits and scientific notation, and pads every element to a common width; rows wrap at
``linewidth``; more than ``threshold`` elements print only ``edgeitems`` at each end of every dim.

Printing works on a host NumPy copy of the window: values are formatted as Python floats, which is what
PyTorch's ``item()``/``tolist()`` give, so float16 and bfloat16 print their exact values.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from . import dtypes

__all__ = ["set_printoptions"]


@dataclasses.dataclass
class _PrintOptions:
    precision: int = 4
    threshold: float = 1000
    edgeitems: int = 3
    linewidth: int = 80
    sci_mode: bool | None = None


PRINT_OPTS = _PrintOptions()

_PROFILES = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": math.inf, "edgeitems": 3, "linewidth": 80},
}


def set_printoptions(precision: int | None = None, threshold: float | None = None, edgeitems: int | None = None,
                     linewidth: int | None = None, profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set options for printing tensors (as ``torch.set_printoptions``).

    Args:
        precision: digits after the decimal point for floating output (default 4).
        threshold: number of elements above which the output is summarised with ``...`` (default 1000).
        edgeitems: items shown at the start and end of each dim when summarising (default 3).
        linewidth: characters per line before wrapping (default 80).
        profile: ``"default"``, ``"short"`` or ``"full"``: a preset the other arguments override.
        sci_mode: True or False to force or forbid scientific notation; None (the default, and what every
            call without it resets to) lets the formatter choose.

    Example::

        >>> ember.set_printoptions(precision=2)
        >>> ember.tensor([1.12345])
        tensor([1.12])
        >>> ember.set_printoptions(profile="default")
    """
    if profile is not None:
        for name, value in _PROFILES[profile].items():
            setattr(PRINT_OPTS, name, value)
    for name, value in (("precision", precision), ("threshold", threshold), ("edgeitems", edgeitems),
                        ("linewidth", linewidth)):
        if value is not None:
            setattr(PRINT_OPTS, name, value)
    PRINT_OPTS.sci_mode = sci_mode


class _Formatter:
    """Chooses one notation and width for all the elements of ``values`` (a NumPy array)."""

    def __init__(self, values: np.ndarray, floating: bool):
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        flat = values.reshape(-1)
        if not floating:
            for value in flat.tolist():
                self.max_width = max(self.max_width, len(str(value)))
            return
        finite = flat[np.isfinite(flat) & (flat != 0)]
        if finite.size == 0:
            return
        magnitudes = np.abs(finite)
        vmin, vmax = float(magnitudes.min()), float(magnitudes.max())
        self.int_mode = bool(np.all(finite == np.ceil(finite)))
        self.sci_mode = (vmax / vmin > 1000.0 or vmax > 1.0e8 or vmin < 1.0e-4) if PRINT_OPTS.sci_mode is None \
            else PRINT_OPTS.sci_mode
        precision = PRINT_OPTS.precision
        for value in finite.tolist():
            if self.sci_mode:
                width = len(f"{value:.{precision}e}")
            elif self.int_mode:
                # The trailing "." that marks a float is one more character.
                width = len(f"{value:.0f}") + 1
            else:
                width = len(f"{value:.{precision}f}")
            self.max_width = max(self.max_width, width)

    def format(self, value: Any) -> str:
        if self.floating:
            if self.sci_mode:
                text = f"{value:{self.max_width}.{PRINT_OPTS.precision}e}"
            elif self.int_mode:
                text = f"{value:.0f}"
                if not (math.isinf(value) or math.isnan(value)):
                    text += "."
            else:
                text = f"{value:.{PRINT_OPTS.precision}f}"
        else:
            text = str(value)
        return (self.max_width - len(text)) * " " + text


def _summarized(values: np.ndarray) -> np.ndarray:
    """The elements a summarised print shows, gathered for the formatter (``get_summarized_data``)."""
    edge = PRINT_OPTS.edgeitems
    if values.ndim == 0:
        return values
    if values.ndim == 1:
        # PyTorch's values[-0:] is the whole vector, so edgeitems=0 formats over every element.
        return np.concatenate((values[:edge], values[-edge:])) if values.shape[0] > 2 * edge else values
    if not edge:
        return values[(slice(0, 0),) * values.ndim]
    for axis, size in enumerate(values.shape):
        if size > 2 * edge:
            values = np.take(values, list(range(edge)) + list(range(size - edge, size)), axis=axis)
    return values


def _vector_str(values: np.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    element_length = formatter.max_width + 2
    per_line = max(1, math.floor((PRINT_OPTS.linewidth - indent) / element_length))
    edge = PRINT_OPTS.edgeitems
    if summarize and not edge:
        data = ["..."]
    elif summarize and values.shape[0] > 2 * edge:
        data = ([formatter.format(v) for v in values[:edge].tolist()] + [" ..."]
                + [formatter.format(v) for v in values[-edge:].tolist()])
    else:
        data = [formatter.format(v) for v in values.tolist()]
    lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(values: np.ndarray, indent: int, summarize: bool, formatter: _Formatter) -> str:
    ndim = values.ndim
    if ndim == 0:
        return formatter.format(values.item())
    if ndim == 1:
        return _vector_str(values, indent, summarize, formatter)
    edge = PRINT_OPTS.edgeitems
    size = values.shape[0]
    if summarize and size > 2 * edge:
        rows = list(range(edge)) + [None] + list(range(size - edge, size))
    else:
        rows = list(range(size))
    slices = ["..." if i is None else _nested_str(values[i], indent + 1, summarize, formatter) for i in rows]
    return "[" + ("," + "\n" * (ndim - 1) + " " * (indent + 1)).join(slices) + "]"


def _host_values(t: Any) -> np.ndarray:
    arr = t.cpu()._array()
    # float16/bfloat16 widen exactly to float64, where the formatter's arithmetic cannot overflow.
    return arr.astype(np.float64) if t.dtype.is_floating_point else arr


def _add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    parts = [text]
    last_line_len = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > PRINT_OPTS.linewidth:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def _grad_suffix(t: Any) -> list[str]:
    """Autograd state as PyTorch shows it; tensors without autograd attributes show none."""
    grad_fn = getattr(t, "grad_fn", None)
    if grad_fn is not None:
        return [f"grad_fn=<{grad_fn.name_()}>"]
    return ["requires_grad=True"] if getattr(t, "requires_grad", False) else []


def tensor_repr(t: Any) -> str:
    """The text ``repr(t)`` and ``str(t)`` give, as ``torch.Tensor.__repr__`` lays it out."""
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if t.device.type != "cpu":
        suffixes.append(f"device='{t.device}'")
    default = dtypes.get_default_dtype()
    if t.numel() == 0:
        if t.dim() != 1:
            suffixes.append(f"size={tuple(t.shape)}")
        # An empty tensor has no values to show its dtype by, so only the default float dtype is implied.
        if t.dtype is not default:
            suffixes.append(f"dtype={t.dtype}")
        body = "[]"
    else:
        if not PRINT_OPTS.edgeitems:
            suffixes.append(f"size={tuple(t.shape)}")
        if t.dtype not in (default, dtypes.int64, dtypes.bool):
            suffixes.append(f"dtype={t.dtype}")
        values = _host_values(t)
        summarize = values.size > PRINT_OPTS.threshold
        formatter = _Formatter(_summarized(values) if summarize else values, t.dtype.is_floating_point)
        body = _nested_str(values, indent, summarize, formatter)
    return _add_suffixes(prefix + body, suffixes + _grad_suffix(t), indent)
