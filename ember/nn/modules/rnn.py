"""Recurrent layers, as ``torch.nn.RNN``, ``LSTM``, ``GRU`` and their one-step cells.

The sequence modules work on packed steps (a padded input is packed trivially, every step full): they project
every step's input at once (one ``linear`` over the whole sequence) and then run the recurrence one step at a time
in ember ops, so autograd, ``no_grad`` and the tracer see ordinary ops.
Parameter names, shapes, order, gate layout (LSTM ``i, f, g, o``; GRU ``r, z, n``) and initialisation are
PyTorch's, so a PyTorch state_dict loads unchanged.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable

import ember

from ...autograd import Function
from ...tensor.tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from ..utils.rnn import PackedSequence
from .module import Module

__all__ = ["RNNBase", "RNN", "LSTM", "GRU", "RNNCellBase", "RNNCell", "LSTMCell", "GRUCell"]

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


class _Split(Function):
    """``data.split(sizes)``: the packed steps as a tuple. ``split`` itself would give each step a ``narrow``
    whose backward writes into a zeros tensor of the whole sequence (quadratic in its length); here the
    backward is one ``cat``."""

    @staticmethod
    def forward(ctx, data: Tensor, sizes: list[int]) -> tuple:
        return data.split(sizes)

    @staticmethod
    def backward(ctx, *grads: Tensor) -> tuple:
        return ember.cat(grads), None


def _rnn_step(activation: Callable) -> Callable:
    def step(gx: Tensor, state: tuple, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None) -> tuple:
        return (activation(gx + F.linear(state[0], w_hh, b_hh)),)
    return step


def _lstm_step(gx: Tensor, state: tuple, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None) -> tuple:
    h, c = state
    gates = gx + F.linear(h, w_hh, b_hh)
    # One sigmoid over all four gates (the g quarter is discarded) costs less than three separate dispatches.
    i, f, _, o = gates.sigmoid().chunk(4, -1)
    g = gates.narrow(-1, 2 * c.shape[-1], c.shape[-1]).tanh()
    c = f * c + i * g
    h = o * c.tanh()
    return (h if w_hr is None else F.linear(h, w_hr)), c


def _gru_step(gx: Tensor, state: tuple, w_hh: Tensor, b_hh: Tensor | None, w_hr: Tensor | None) -> tuple:
    h = state[0]
    gh = F.linear(h, w_hh, b_hh)
    size = h.shape[-1]
    r, z = (gx.narrow(-1, 0, 2 * size) + gh.narrow(-1, 0, 2 * size)).sigmoid().chunk(2, -1)
    n = (gx.narrow(-1, 2 * size, size) + r * gh.narrow(-1, 2 * size, size)).tanh()
    return (n + z * (h - n),)  # (1 - z) * n + z * h with one op fewer


_STEPS = {"RNN_TANH": _rnn_step(F.tanh), "RNN_RELU": _rnn_step(F.relu), "LSTM": _lstm_step, "GRU": _gru_step}


def _recur(step: Callable, pieces: tuple, batch_sizes: list[int], h0: tuple, weights: tuple,
           reverse: bool) -> tuple[list[Tensor], tuple]:
    """One direction of one layer over packed steps (``pieces[t]`` holds the ``batch_sizes[t]`` sequences still
    running at step ``t``, longest first). Returns each step's output and the final states of every sequence."""
    ys: list[Tensor] = [None] * len(pieces)  # type: ignore[list-item]
    if not reverse:
        state, finished = h0, []
        for t, size in enumerate(batch_sizes):
            rows = state[0].shape[0]
            if size < rows:  # the shortest sequences ended at the previous step: set their final states aside
                finished.append(tuple(s.narrow(0, size, rows - size) for s in state))
                state = tuple(s.narrow(0, 0, size) for s in state)
            state = step(pieces[t], state, *weights)
            ys[t] = state[0]
        if finished:
            state = tuple(ember.cat([s, *(f[k] for f in reversed(finished))]) for k, s in enumerate(state))
        return ys, state
    last = batch_sizes[-1]
    state = h0 if last == h0[0].shape[0] else tuple(h.narrow(0, 0, last) for h in h0)
    for t in reversed(range(len(batch_sizes))):
        rows = state[0].shape[0]
        if batch_sizes[t] > rows:  # longer sequences join here, starting from their own last step
            joining = batch_sizes[t] - rows
            state = tuple(ember.cat([s, h.narrow(0, rows, joining)]) for s, h in zip(state, h0, strict=True))
        state = step(pieces[t], state, *weights)
        ys[t] = state[0]
    return ys, state


def _permute(states: tuple, permutation: Tensor | None) -> tuple:
    return states if permutation is None else tuple(s.index_select(1, permutation) for s in states)


class RNNBase(Module):
    """Base class for RNN modules (RNN, LSTM, GRU): argument checks, parameter creation and naming, and the
    layer-by-layer, direction-by-direction recurrence shared by the three.

    Parameters per layer ``k`` (and with suffix ``_reverse`` for the backward direction): ``weight_ih_lk``
    of shape ``(gates * hidden_size, layer_input_size)``, ``weight_hh_lk`` of shape ``(gates * hidden_size,
    hidden_size or proj_size)``, with ``bias`` also ``bias_ih_lk`` and ``bias_hh_lk``, and with ``proj_size``
    ``weight_hr_lk`` of shape ``(proj_size, hidden_size)``; all drawn from ``U(-1/sqrt(hidden_size),
    1/sqrt(hidden_size))``.
    """

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None) -> None:
        super().__init__()
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        if not isinstance(dropout, numbers.Number) or isinstance(dropout, bool) or not 0 <= dropout <= 1:
            raise ValueError("dropout should be a number in range [0, 1] representing the probability of an element "
                             "being zeroed")
        if dropout > 0 and num_layers == 1:
            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and num_layers={num_layers}",
                          stacklevel=2)
        for name, value, kind in (("bias", bias, bool), ("batch_first", batch_first, bool),
                                  ("input_size", input_size, int), ("hidden_size", hidden_size, int)):
            if not isinstance(value, kind):
                raise TypeError(f"{name} should be of type {kind.__name__}, got: {type(value).__name__}")
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers)):
            if value <= 0:
                raise ValueError(f"{name} must be greater than zero")
        if proj_size < 0:
            raise ValueError("proj_size should be a positive integer or zero to disable projections")
        if proj_size >= hidden_size:
            raise ValueError("proj_size has to be smaller than hidden_size")
        if mode not in _GATES:
            raise ValueError("Unrecognized RNN mode: " + mode)

        gate_size = _GATES[mode] * hidden_size
        real_hidden_size = proj_size if proj_size > 0 else hidden_size
        num_directions = 2 if bidirectional else 1
        self._flat_weights_names: list[str] = []
        self._all_weights: list[list[str]] = []
        for layer in range(num_layers):
            layer_input_size = input_size if layer == 0 else real_hidden_size * num_directions
            for direction in range(num_directions):
                shapes = {"weight_ih_l{}{}": (gate_size, layer_input_size),
                          "weight_hh_l{}{}": (gate_size, real_hidden_size)}
                if bias:
                    shapes.update({"bias_ih_l{}{}": (gate_size,), "bias_hh_l{}{}": (gate_size,)})
                if proj_size > 0:
                    shapes["weight_hr_l{}{}"] = (proj_size, hidden_size)
                names = []
                for pattern, shape in shapes.items():
                    name = pattern.format(layer, "_reverse" if direction == 1 else "")
                    setattr(self, name, Parameter(ember.empty(shape, device=device, dtype=dtype)))
                    names.append(name)
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    @property
    def _flat_weights(self) -> list[Parameter | None]:
        return [getattr(self, name, None) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Parameter]]:
        """The parameters of each layer and direction, in PyTorch's flat order."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    def flatten_parameters(self) -> None:
        """A no-op kept for PyTorch scripts: PyTorch packs the weights into one cuDNN buffer here, while ember's
        parameters are already separate contiguous tensors that every forward reads directly."""

    def reset_parameters(self) -> None:
        """Redraw every parameter from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def check_input(self, input: Tensor, batch_sizes: Tensor | None) -> None:
        weight_dtype = self._flat_weights[0].dtype
        if input.dtype is not weight_dtype:
            raise ValueError(f"RNN input dtype ({input.dtype}) does not match weight dtype ({weight_dtype}). Convert "
                             f"input: input.to({weight_dtype}), or convert model: model.to({input.dtype})")
        expected_input_dim = 2 if batch_sizes is not None else 3
        if input.dim() != expected_input_dim:
            raise RuntimeError(f"input must have {expected_input_dim} dimensions, got {input.dim()}")
        if self.input_size != input.size(-1):
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                               f"got {input.size(-1)}")

    def get_expected_hidden_size(self, input: Tensor, batch_sizes: Tensor | None) -> tuple[int, int, int]:
        mini_batch = self._mini_batch(input, batch_sizes)
        num_directions = 2 if self.bidirectional else 1
        return self.num_layers * num_directions, mini_batch, self.proj_size if self.proj_size > 0 else self.hidden_size

    def _mini_batch(self, input: Tensor, batch_sizes: Tensor | None) -> int:
        if batch_sizes is not None:
            return int(batch_sizes[0])
        return input.size(0) if self.batch_first else input.size(1)

    def check_hidden_size(self, hx: Tensor, expected_hidden_size: tuple[int, int, int],
                          msg: str = "Expected hidden size {}, got {}") -> None:
        if tuple(hx.size()) != tuple(expected_hidden_size):
            raise RuntimeError(msg.format(expected_hidden_size, list(hx.size())))

    def check_forward_args(self, input: Tensor, hidden: Tensor, batch_sizes: Tensor | None) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden, self.get_expected_hidden_size(input, batch_sizes))

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if self.proj_size != 0:
            s += ", proj_size={proj_size}"
        if self.num_layers != 1:
            s += ", num_layers={num_layers}"
        if self.bias is not True:
            s += ", bias={bias}"
        if self.batch_first is not False:
            s += ", batch_first={batch_first}"
        if self.dropout != 0:
            s += ", dropout={dropout}"
        if self.bidirectional is not False:
            s += ", bidirectional={bidirectional}"
        return s.format(**self.__dict__)

    def _zero_states(self, like: Tensor, batch: int) -> tuple:
        sizes = (self.proj_size or self.hidden_size, self.hidden_size) if self.mode == "LSTM" else (self.hidden_size,)
        layers = self.num_layers * (2 if self.bidirectional else 1)
        return tuple(ember.zeros(layers, batch, size, dtype=like.dtype, device=like.device) for size in sizes)

    def _check_states(self, input: Tensor, states: tuple, batch_sizes: Tensor | None) -> None:
        self.check_forward_args(input, states if self.mode == "LSTM" else states[0], batch_sizes)

    def _check_state_dims(self, states: tuple, is_batched: bool) -> None:
        want, kind = (3, "batched 3-D") if is_batched else (2, "unbatched 2-D")
        dims = tuple(s.dim() for s in states)
        if any(d != want for d in dims):
            if self.mode == "LSTM":
                raise RuntimeError(f"For {kind} input, hx and cx should also be {want}-D but got ({dims[0]}-D, "
                                   f"{dims[1]}-D) tensors")
            raise RuntimeError(f"For {kind} input, hx should also be {want}-D but got {dims[0]}-D tensor")

    def _forward_states(self, input: Tensor | PackedSequence, hx: tuple | None, name: str) -> tuple:
        """The forward shared by RNN, LSTM and GRU, with the states as a tuple (``(h,)`` or ``(h, c)``): checks
        like PyTorch's, then the recurrence over padded or packed input. Returns ``(output, states)``."""
        if isinstance(input, PackedSequence):
            data, batch_sizes, sorted_indices, unsorted_indices = input
            states = self._zero_states(data, int(batch_sizes[0])) if hx is None else _permute(hx, sorted_indices)
            self._check_states(data, states, batch_sizes)
            output, states = self._run(data, [int(b) for b in batch_sizes.tolist()], states)
            return PackedSequence(output, batch_sizes, sorted_indices, unsorted_indices), \
                _permute(states, unsorted_indices)
        if input.dim() not in (2, 3):
            raise ValueError(f"{name}: Expected input to be 2D or 3D, got {input.dim()}D "
                             + ("tensor instead" if name == "RNN" else "instead"))
        is_batched = input.dim() == 3
        batch_dim = 0 if self.batch_first else 1
        if not is_batched:
            input = input.unsqueeze(batch_dim)
        if hx is None:
            states = self._zero_states(input, input.size(batch_dim))
        else:
            self._check_state_dims(hx, is_batched)
            states = hx if is_batched else tuple(h.unsqueeze(1) for h in hx)
        self._check_states(input, states, None)
        x = input.transpose(0, 1) if self.batch_first else input
        steps, batch = x.shape[0], x.shape[1]
        if steps == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")
        output, states = self._run(x.reshape(steps * batch, x.shape[2]), [batch] * steps, states)
        output = output.reshape(steps, batch, output.shape[-1])
        if self.batch_first:
            output = output.transpose(0, 1)
        if not is_batched:
            output, states = output.squeeze(batch_dim), tuple(s.squeeze(1) for s in states)
        return output, states

    def _run(self, data: Tensor, batch_sizes: list[int], states: tuple) -> tuple[Tensor, tuple]:
        """The stacked (bi)directional recurrence over packed ``data`` (``(sum(batch_sizes), input_size)``, step
        after step); ``states`` are the ``(layers * directions, batch, size)`` initial states. Returns the last
        layer's packed outputs and the final states in the same layout."""
        step = _STEPS[self.mode]
        initial = [s.unbind(0) for s in states]
        finals: list[list[Tensor]] = [[] for _ in states]
        num_directions = 2 if self.bidirectional else 1
        x = data
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(num_directions):
                index = layer * num_directions + direction
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                b_ih, b_hh = (getattr(self, "bias_ih" + suffix), getattr(self, "bias_hh" + suffix)) if self.bias \
                    else (None, None)
                weights = (getattr(self, "weight_hh" + suffix), b_hh,
                           getattr(self, "weight_hr" + suffix) if self.proj_size > 0 else None)
                pieces = _Split.apply(F.linear(x, getattr(self, "weight_ih" + suffix), b_ih), batch_sizes)
                ys, state = _recur(step, pieces, batch_sizes, tuple(s[index] for s in initial), weights,
                                   reverse=bool(direction))
                outputs.append(ember.cat(ys))
                for final, s in zip(finals, state, strict=True):
                    final.append(s)
            x = outputs[0] if num_directions == 1 else ember.cat(outputs, -1)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, True)
        return x, tuple(ember.stack(f) for f in finals)


class RNN(RNNBase):
    """A multi-layer Elman RNN, ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)`` (or ReLU).

    Args:
        input_size: features of the input ``x``.
        hidden_size: features of the hidden state ``h``.
        num_layers: stacked recurrent layers. Default: 1.
        nonlinearity: ``'tanh'`` or ``'relu'``. Default: ``'tanh'``.
        bias: with ``bias_ih`` and ``bias_hh``. Default: ``True``.
        batch_first: input and output as ``(batch, seq, feature)`` instead of ``(seq, batch, feature)``.
        dropout: dropout probability on the outputs of every layer but the last, in training. Default: 0.
        bidirectional: also run the sequence backwards and concatenate. Default: ``False``.

    Shape:
        - input: ``(L, H_in)``, ``(L, N, H_in)`` or with ``batch_first`` ``(N, L, H_in)``; or a
          :class:`~ember.nn.utils.rnn.PackedSequence` of variable-length sequences (the output is then packed too).
        - hx: ``(D * num_layers, H_out)`` or ``(D * num_layers, N, H_out)``; zeros when omitted.
        - output: ``(L, D * H_out)``, ``(L, N, D * H_out)`` or ``(N, L, D * H_out)``; h_n like hx.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'.")
        self.nonlinearity = nonlinearity
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, device=device, dtype=dtype, **kwargs)

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns ``(output, h_n)``: the last layer's hidden state at every step (a PackedSequence for packed
        input), and every layer's last one."""
        output, (h_n,) = self._forward_states(input, None if hx is None else (hx,), "RNN")
        return output, h_n


class GRU(RNNBase):
    """A multi-layer gated recurrent unit: ``r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)``, ``z`` likewise,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h' = (1 - z) * n + z * h``.

    Arguments, shapes and return values as :class:`RNN` (without ``nonlinearity``); the gates are stacked in
    the weights in the order ``r, z, n``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, device=None,
                 dtype=None, **kwargs) -> None:
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         device=device, dtype=dtype, **kwargs)

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Returns ``(output, h_n)`` as :meth:`RNN.forward`."""
        output, (h_n,) = self._forward_states(input, None if hx is None else (hx,), "GRU")
        return output, h_n


class LSTM(RNNBase):
    """A multi-layer long short-term memory RNN: gates ``i, f, g, o`` (stacked in that order in the weights),
    ``c' = f * c + i * g``, ``h' = o * tanh(c')``, projected by ``weight_hr`` when ``proj_size > 0``.

    Args:
        input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional: as :class:`RNN`.
        proj_size: if > 0, the hidden state is projected to this size. Default: 0.

    Shape:
        - input: as :class:`RNN`; hx: a tuple ``(h_0, c_0)``, zeros when omitted, ``h_0`` of size ``proj_size``
          (or ``hidden_size``), ``c_0`` of size ``hidden_size``.
        - output: ``(output, (h_n, c_n))``.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device=device, dtype=dtype)

    def get_expected_cell_size(self, input: Tensor, batch_sizes: Tensor | None) -> tuple[int, int, int]:
        mini_batch = self._mini_batch(input, batch_sizes)
        return self.num_layers * (2 if self.bidirectional else 1), mini_batch, self.hidden_size

    def check_forward_args(self, input: Tensor, hidden: tuple[Tensor, Tensor],  # type: ignore[override]
                           batch_sizes: Tensor | None) -> None:
        self.check_input(input, batch_sizes)
        self.check_hidden_size(hidden[0], self.get_expected_hidden_size(input, batch_sizes),
                               "Expected hidden[0] size {}, got {}")
        self.check_hidden_size(hidden[1], self.get_expected_cell_size(input, batch_sizes),
                               "Expected hidden[1] size {}, got {}")

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Returns ``(output, (h_n, c_n))``."""
        output, (h_n, c_n) = self._forward_states(input, None if hx is None else tuple(hx), "LSTM")
        return output, (h_n, c_n)


class RNNCellBase(Module):
    """Base class of the one-step cells: ``weight_ih``, ``weight_hh`` and optional ``bias_ih``/``bias_hh``
    holding ``num_chunks`` gates, drawn from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""

    def __init__(self, input_size: int, hidden_size: int, bias: bool, num_chunks: int, device=None,
                 dtype=None) -> None:
        super().__init__()
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.bias = bias
        self.weight_ih = Parameter(ember.empty((num_chunks * hidden_size, input_size), device=device, dtype=dtype))
        self.weight_hh = Parameter(ember.empty((num_chunks * hidden_size, hidden_size), device=device, dtype=dtype))
        if bias:
            self.bias_ih = Parameter(ember.empty(num_chunks * hidden_size, device=device, dtype=dtype))
            self.bias_hh = Parameter(ember.empty(num_chunks * hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def extra_repr(self) -> str:
        s = "{input_size}, {hidden_size}"
        if "bias" in self.__dict__ and self.bias is not True:
            s += ", bias={bias}"
        if "nonlinearity" in self.__dict__ and self.nonlinearity != "tanh":
            s += ", nonlinearity={nonlinearity}"
        return s.format(**self.__dict__)

    def reset_parameters(self) -> None:
        """Redraw every parameter from ``U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))``."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0
        for weight in self.parameters():
            init.uniform_(weight, -stdv, stdv)

    def _step(self, mode: str, input: Tensor, hx: tuple | None, name: str, hx_name: str) -> tuple:
        """Checks like PyTorch's cells, then one step of ``mode`` on a batch (an unbatched 1-D input gets one)."""
        if input.dim() not in (1, 2):
            raise ValueError(f"{name}: Expected input to be 1D or 2D, got {input.dim()}D instead")
        for idx, value in enumerate(hx or ()):
            if value.dim() not in (1, 2):
                raise ValueError(f"{name}: Expected {hx_name.format(idx)} to be 1D or 2D, got {value.dim()}D instead")
        is_batched = input.dim() == 2
        if not is_batched:
            input = input.unsqueeze(0)
        if hx is None:
            hx = (ember.zeros(input.size(0), self.hidden_size, dtype=input.dtype, device=input.device),) * \
                (2 if mode == "LSTM" else 1)
        elif not is_batched:
            hx = tuple(h.unsqueeze(0) for h in hx)
        if input.size(1) != self.input_size:
            raise RuntimeError(f"input has inconsistent input_size: got {input.size(1)} expected {self.input_size}")
        for idx, h in enumerate(hx):
            if h.size(0) != input.size(0):
                raise RuntimeError(f"Input batch size {input.size(0)} doesn't match hidden{idx} batch size "
                                   f"{h.size(0)}")
            if h.dim() != 2:
                raise IndexError(f"Dimension out of range (expected to be in range of [-1, 0], but got 1) for "
                                 f"hidden{idx} of shape {list(h.shape)}")
            if h.size(1) != self.hidden_size:
                raise RuntimeError(f"hidden{idx} has inconsistent hidden_size: got {h.size(1)}, expected "
                                   f"{self.hidden_size}")
        out = _STEPS[mode](F.linear(input, self.weight_ih, self.bias_ih), hx, self.weight_hh, self.bias_hh, None)
        return out if is_batched else tuple(o.squeeze(0) for o in out)


class RNNCell(RNNCellBase):
    """One step of an Elman RNN: ``h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh)`` (or ReLU).

    Args:
        input_size: features of the input. hidden_size: features of the hidden state.
        bias: with ``bias_ih`` and ``bias_hh``. Default: ``True``. nonlinearity: ``'tanh'`` or ``'relu'``.

    Shape:
        input ``(N, H_in)`` or ``(H_in)``; hidden ``(N, H_out)`` or ``(H_out)`` (zeros when omitted); output
        like hidden.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=1, device=device, dtype=dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        if self.nonlinearity not in ("tanh", "relu"):
            raise RuntimeError(f"Unknown nonlinearity: {self.nonlinearity}")
        mode = "RNN_TANH" if self.nonlinearity == "tanh" else "RNN_RELU"
        return self._step(mode, input, None if hx is None else (hx,), "RNNCell", "hidden")[0]


class LSTMCell(RNNCellBase):
    """One LSTM step: returns ``(h', c')`` from input and ``(h, c)`` (zeros when omitted); gates ``i, f, g, o``.

    Args:
        input_size, hidden_size, bias: as :class:`RNNCell`.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=4, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        return self._step("LSTM", input, hx, "LSTMCell", "hx[{}]")


class GRUCell(RNNCellBase):
    """One GRU step (gates ``r, z, n`` as :class:`GRU`): returns ``h'`` from input and ``h`` (zeros when omitted).

    Args:
        input_size, hidden_size, bias: as :class:`RNNCell`.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, num_chunks=3, device=device, dtype=dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._step("GRU", input, None if hx is None else (hx,), "GRUCell", "hidden")[0]
