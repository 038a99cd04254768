"""Variable-length sequences for the recurrent layers, as ``torch.nn.utils.rnn``: :class:`PackedSequence`,
packing and padding. Packing and unpacking are each one ``index_select`` over the flattened steps (indices built
on the host from the lengths), so their gradients are one ``index_add``, whatever the sequence length."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

import ember
from ember.tensor.tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence", "pad_packed_sequence", "pad_sequence",
           "unpad_sequence", "pack_sequence", "unpack_sequence"]


class PackedSequence_(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(PackedSequence_):
    """The steps of a batch of variable-length sequences, packed time step by time step (longest sequences
    first): ``data`` holds step 0 of every sequence, then step 1 of those still running, and so on;
    ``batch_sizes[t]`` is how many sequences run at step ``t``. Build it with :func:`pack_padded_sequence` or
    :func:`pack_sequence`, never by hand; the recurrent layers accept it in place of a padded input.

    Attributes:
        data: ``(sum(lengths), *)`` packed steps.
        batch_sizes: int64 tensor, the batch size at each step.
        sorted_indices: how the batch was sorted by decreasing length (``None`` when it already was).
        unsorted_indices: the inverse permutation, restoring the original order.
    """

    def __new__(cls, data: Tensor, batch_sizes: Tensor | None = None, sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None) -> PackedSequence:
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            # PyTorch also accepts PackedSequence((data, batch_sizes), ...).
            if not (isinstance(data, list | tuple) and len(data) == 2):
                raise AssertionError("Expected data to be a list or tuple of length 2")
            data, batch_sizes = data
        elif batch_sizes.device.type != "cpu":
            raise ValueError("batch_sizes should always be on CPU. Instances of PackedSequence should never be "
                             "created manually. They should be instantiated by functions like pack_sequence and "
                             "pack_padded_sequences in nn.utils.rnn.")
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` converted as ``Tensor.to``; the index tensors follow its device, ``batch_sizes`` stays on
        the CPU."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        sorted_indices, unsorted_indices = (None if t is None else t.to(data.device)
                                            for t in (self.sorted_indices, self.unsorted_indices))
        return type(self)(data, self.batch_sizes, sorted_indices, unsorted_indices)

    def cpu(self) -> PackedSequence:
        return self.to("cpu")

    def cuda(self, device: Any = None) -> PackedSequence:
        return self.to("cuda" if device is None else device)

    def double(self) -> PackedSequence:
        return self.to(dtype=ember.float64)

    def float(self) -> PackedSequence:
        return self.to(dtype=ember.float32)

    def half(self) -> PackedSequence:
        return self.to(dtype=ember.float16)

    def long(self) -> PackedSequence:
        return self.to(dtype=ember.int64)

    def int(self) -> PackedSequence:
        return self.to(dtype=ember.int32)

    def short(self) -> PackedSequence:
        return self.to(dtype=ember.int16)

    def char(self) -> PackedSequence:
        return self.to(dtype=ember.int8)

    def byte(self) -> PackedSequence:
        return self.to(dtype=ember.uint8)

    @property
    def is_cuda(self) -> bool:
        """Whether ``data`` is on a CUDA device."""
        return self.data.is_cuda


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation given as an index tensor (``None`` stays ``None``)."""
    if permutation is None:
        return None
    inverse = np.empty(permutation.numel(), dtype=np.int64)
    inverse[np.asarray(permutation.numpy())] = np.arange(permutation.numel())
    return ember.tensor(inverse, device=permutation.device)


def _as_lengths(lengths: Tensor | list[int]) -> np.ndarray:
    if isinstance(lengths, Tensor):
        if lengths.dim() != 1:
            raise RuntimeError(f"'lengths' argument should be a 1D CPU int64 tensor, but got {lengths.dim()}D "
                               f"{lengths.device.type} {lengths.dtype} tensor")
        return np.asarray(lengths.numpy()).astype(np.int64)
    return np.asarray(lengths, dtype=np.int64).reshape(-1)


def pack_padded_sequence(input: Tensor, lengths: Tensor | list[int], batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Packs a padded batch of variable-length sequences.

    Args:
        input: ``(T, B, *)`` padded sequences (``(B, T, *)`` with ``batch_first``).
        lengths: the length of each sequence (a list or a 1-D CPU int64 tensor).
        batch_first: the layout of ``input``.
        enforce_sorted: if ``True``, ``lengths`` must be in decreasing order; otherwise the batch is sorted here
            and the permutation kept in the result.
    """
    lengths = _as_lengths(lengths)
    sorted_indices = None
    if not enforce_sorted:
        order = np.argsort(-lengths, kind="stable")
        lengths = lengths[order]
        sorted_indices = ember.tensor(order, device=input.device)
        input = input.index_select(0 if batch_first else 1, sorted_indices)
    if batch_first:
        input = input.transpose(0, 1)
    steps, batch = input.shape[0], input.shape[1]
    if len(lengths) != batch:
        raise RuntimeError(f"Expected `len(lengths)` to be equal to batch_size, but got {len(lengths)} "
                           f"(batch_size={batch})")
    if np.any(lengths[:-1] < lengths[1:]):
        raise RuntimeError("`lengths` array must be sorted in decreasing order when `enforce_sorted` is True. You "
                           "can pass `enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to sidestep "
                           "this requirement if you do not need ONNX exportability.")
    if batch and lengths[-1] <= 0:
        raise RuntimeError("Length of all samples has to be greater than 0, but found an element in 'lengths' that is "
                           "<= 0")
    if batch and lengths[0] > steps:
        # PyTorch reads past the end of the input here; ember refuses.
        raise RuntimeError(f"the longest length in 'lengths' ({lengths[0]}) exceeds the padded sequence length "
                           f"({steps})")
    batch_sizes = (lengths[None, :] > np.arange(lengths[0] if batch else 0)[:, None]).sum(1)
    index = np.concatenate([t * batch + np.arange(n) for t, n in enumerate(batch_sizes)] or [np.zeros(0, np.int64)])
    flat = input.reshape(steps * batch, *input.shape[2:])
    data = flat.index_select(0, ember.tensor(index.astype(np.int64), device=input.device))
    return PackedSequence(data, ember.tensor(batch_sizes.astype(np.int64)), sorted_indices, None)


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False, padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Pads a packed batch back: the inverse of :func:`pack_padded_sequence`.

    Args:
        sequence: the batch to pad.
        batch_first: return ``(B, T, *)`` instead of ``(T, B, *)``.
        padding_value: the value of the padded elements.
        total_length: pad to this many steps instead of the longest length.

    Returns:
        ``(padded, lengths)``, ``lengths`` an int64 tensor in the batch's original order.
    """
    batch_sizes = np.asarray(sequence.batch_sizes.numpy()).astype(np.int64)
    max_seq_length = len(batch_sizes)
    if total_length is not None:
        if total_length < max_seq_length:
            raise ValueError("Expected total_length to be at least the length of the longest sequence in input, but "
                             f"got total_length={total_length} and max sequence length being {max_seq_length}")
        max_seq_length = total_length
    data = sequence.data
    batch = int(batch_sizes[0]) if len(batch_sizes) else 0
    offsets = np.concatenate([[0], np.cumsum(batch_sizes)])
    pad_row = data.shape[0]  # the index of the padding row appended to data below
    index = np.full((max_seq_length, batch), pad_row, dtype=np.int64)
    for t, n in enumerate(batch_sizes):
        index[t, :n] = offsets[t] + np.arange(n)
    rows = ember.cat([data, ember.full((1, *data.shape[1:]), padding_value, dtype=data.dtype, device=data.device)])
    padded = rows.index_select(0, ember.tensor(index.reshape(-1), device=data.device))
    padded = padded.reshape(max_seq_length, batch, *data.shape[1:])
    lengths = (batch_sizes[:, None] > np.arange(batch)[None, :]).sum(0).astype(np.int64)
    if batch_first:
        padded = padded.transpose(0, 1)
    if sequence.unsorted_indices is not None:
        padded = padded.index_select(0 if batch_first else 1, sequence.unsorted_indices)
        lengths = lengths[np.asarray(sequence.unsorted_indices.numpy())]
    return padded, ember.tensor(lengths)


def pad_sequence(sequences: Tensor | list[Tensor], batch_first: bool = False, padding_value: float = 0.0,
                 padding_side: str = "right") -> Tensor:
    """Stacks sequences of different lengths ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` with
    ``batch_first``), filling with ``padding_value`` on the ``padding_side`` (``"right"`` or ``"left"``)."""
    if not isinstance(sequences, Iterable):
        raise RuntimeError(f"pad_sequence: Expected iterable for input sequences, but got arg of type: "
                           f"{type(sequences)}")
    sequences = tuple(sequences)
    if not sequences:
        raise RuntimeError("received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise RuntimeError(f"Expected padding_side to be one of left or right, but got {padding_side}.")
    first = sequences[0]
    trailing = tuple(first.shape[1:])
    for seq in sequences[1:]:
        if tuple(seq.shape[1:]) != trailing:
            raise RuntimeError(f"pad_sequence: every sequence must have the trailing shape {list(trailing)} of the "
                               f"first, but got {list(seq.shape)}")
    max_len = max(seq.shape[0] for seq in sequences)
    padded = []
    for seq in sequences:
        fill = ember.full((max_len - seq.shape[0], *trailing), padding_value, dtype=first.dtype, device=first.device)
        seq = seq.to(first.dtype)
        padded.append(ember.cat([seq, fill] if padding_side == "right" else [fill, seq]))
    return ember.stack(padded, 0 if batch_first else 1)


def unpad_sequence(padded_sequences: Tensor, lengths: Tensor, batch_first: bool = False) -> list[Tensor]:
    """Splits a padded batch into its sequences of the given ``lengths`` (the inverse of :func:`pad_sequence`).
    Unlike PyTorch's, it leaves ``padded_sequences`` as it is (PyTorch transposes it in place)."""
    if not batch_first:
        padded_sequences = padded_sequences.transpose(0, 1)
    return [seq.narrow(0, 0, int(length)) for seq, length in zip(padded_sequences.unbind(0), _as_lengths(lengths),
                                                                 strict=True)]


def pack_sequence(sequences: list[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Packs a list of sequences ``(L_i, *)``: :func:`pad_sequence` then :func:`pack_padded_sequence`."""
    lengths = [v.size(0) for v in sequences]
    return pack_padded_sequence(pad_sequence(sequences), lengths, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The list of sequences in a packed batch, in their original order (the inverse of :func:`pack_sequence`)."""
    padded_sequences, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded_sequences, lengths, batch_first=True)
