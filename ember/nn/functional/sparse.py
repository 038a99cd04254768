"""Embedding lookups and one-hot encoding (PyTorch's "sparse" layer family), composed from ember ops."""

from __future__ import annotations

import numpy as np

import ember
from ember.tensor.tensor import Tensor


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 tensor of shape ``tensor.shape + (num_classes,)`` with a 1 at each index; -1 infers the count."""
    if tensor.dtype is not ember.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max()) + 1
    if tensor.numel() and int(tensor.min()) < 0:
        raise RuntimeError("Class values must be non-negative.")
    if tensor.numel() and int(tensor.max()) >= num_classes:
        raise RuntimeError("Class values must be smaller than num_classes.")
    return (tensor.unsqueeze(-1) == ember.arange(num_classes)).long()


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None, max_norm: float | None = None,
              norm_type: float = 2.0, scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the indices in ``input``; the ``padding_idx`` row gets no gradient, and
    ``max_norm`` renormalises (in place) the picked rows whose norm exceeds it."""
    if sparse:
        raise NotImplementedError("embedding: ember has no sparse gradients; use sparse=False")
    if input.dtype not in (ember.int64, ember.int32):
        raise RuntimeError("Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                           f"Long, Int; but got {input.dtype.scalar_name} instead")
    rows = weight.shape[0]
    if padding_idx is not None:
        if not -rows <= padding_idx < rows:
            raise AssertionError("Padding_idx must be within num_embeddings")
        padding_idx %= rows
    if max_norm is not None:
        with ember.no_grad():
            picked = input.reshape(-1).unique()
            norms = weight[picked].norm(norm_type, dim=1, keepdim=True)
            scale = ember.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
            weight[picked] = weight[picked] * scale
    # index_select's kernel refuses indices outside [0, rows) ("index out of range in self"), so the check is part
    # of the op: it also runs when a traced graph replays the lookup on other indices.
    out = weight.index_select(0, input.reshape(-1)).view(*input.shape, weight.shape[1])
    if padding_idx is not None:
        # The padding rows enter detached: same values, but no gradient flows back to that row.
        out = ember.where((input == padding_idx).unsqueeze(-1), out.detach(), out)
    if scale_grad_by_freq:
        # Scale each row's gradient by 1 / (count of its index in this batch) without changing the values.
        flat = input.reshape(-1)
        counts = ember.zeros(rows, dtype=weight.dtype).index_add(0, flat, ember.ones(flat.shape, dtype=weight.dtype))
        factor = (1.0 / counts[input]).unsqueeze(-1)
        out = out * factor + out.detach() * (1 - factor)
    return out


def embedding_bag(input: Tensor, weight: Tensor, offsets: Tensor | None = None, max_norm: float | None = None,
                  norm_type: float = 2, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """Sums, means or maxima of bags of embedding rows: the rows of a 2-D ``input``, or the slices of a 1-D
    ``input`` that start at ``offsets``; ``padding_idx`` entries are left out and empty bags give zeros."""
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"mode has to be one of sum, mean or max, but got {mode}")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. per_sample_weights is only "
                                  f"supported for mode='sum' (got mode='{mode}'). Please open a feature request on "
                                  "GitHub.")
    if input.dim() == 2:
        if offsets is not None:
            raise ValueError("if input is 2D, then offsets has to be None, as input is treated is a mini-batch of "
                             "fixed length sequences. However, found offsets of type Tensor")
        bags, length = input.shape
        bag_of = np.repeat(np.arange(bags), length)
        flat = input.reshape(-1)
        weights = None if per_sample_weights is None else per_sample_weights.reshape(-1)
    elif input.dim() == 1:
        if offsets is None:
            raise ValueError("offsets has to be a 1D Tensor but got None")
        starts = offsets.numpy().astype(np.int64)
        if include_last_offset:
            starts = starts[:-1]
        bags = len(starts)
        if bags and (starts[0] != 0 or np.any(np.diff(starts) < 0)):
            raise RuntimeError("offsets[0] has to be 0, i.e., the first sequence in the mini-batch has to start "
                               "from position 0. However, got " + str(int(starts[0])))
        bag_of = np.searchsorted(starts, np.arange(input.shape[0]), side="right") - 1
        flat, weights = input, per_sample_weights
    else:
        raise ValueError(f"input has to be 1D or 2D Tensor, but got Tensor of dimension {input.dim()}")
    if padding_idx is not None:
        padding_idx %= weight.shape[0]
        # Padding entries go to an extra bag that is dropped at the end.
        bag_of = np.where(flat.numpy() == padding_idx, bags, bag_of)
    rows = embedding(flat, weight, max_norm=max_norm, norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq,
                     sparse=sparse)
    if weights is not None:
        rows = rows * weights.unsqueeze(-1)
    index = ember.from_numpy(np.ascontiguousarray(bag_of, dtype=np.int64))
    dim = weight.shape[1]
    if mode == "max":
        out = ember.zeros(bags + 1, dim, dtype=weight.dtype).scatter_reduce(
            0, index.unsqueeze(-1).expand(index.shape[0], dim), rows, "amax", include_self=False)
    else:
        out = ember.zeros(bags + 1, dim, dtype=weight.dtype).index_add(0, index, rows)
        if mode == "mean":
            counts = np.bincount(bag_of, minlength=bags + 1).astype(np.float64)
            out = out / ember.from_numpy(np.maximum(counts, 1.0)).to(weight.dtype).unsqueeze(-1)
    return out[:bags]


__all__ = ["one_hot", "embedding", "embedding_bag"]
