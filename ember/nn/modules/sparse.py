"""Embedding tables, as ``torch.nn.Embedding`` and ``torch.nn.EmbeddingBag``: a learnable ``weight`` of shape
``(num_embeddings, embedding_dim)`` looked up by index through :mod:`ember.nn.functional`."""

from __future__ import annotations

from ...autograd import no_grad
from ...tensor.creation import empty
from ...tensor.tensor import Tensor
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

__all__ = ["Embedding", "EmbeddingBag"]


def _normalise_padding_idx(padding_idx: int | None, num_embeddings: int, name: str) -> int | None:
    """``padding_idx`` as a row number (negative counts from the end), refused outside the table as PyTorch does."""
    if padding_idx is not None and (padding_idx > 0 and padding_idx >= num_embeddings or padding_idx < -num_embeddings):
        raise AssertionError(f"{name} must be within num_embeddings")
    return num_embeddings + padding_idx if padding_idx is not None and padding_idx < 0 else padding_idx


def _refuse_sparse(sparse: bool, layer: str) -> None:
    if sparse:
        raise NotImplementedError(f"{layer}(sparse=True): ember has no sparse gradients; use sparse=False (the "
                                  "gradient of the weight is then a dense tensor)")


def _table(num_embeddings: int, embedding_dim: int, weight: Tensor | None, requires_grad: bool, device,
           dtype) -> Parameter:
    """The weight Parameter: a fresh uninitialised table, or ``weight`` itself (shared, not copied)."""
    if weight is None:
        return Parameter(empty((num_embeddings, embedding_dim), device=device, dtype=dtype), requires_grad)
    if list(weight.shape) != [num_embeddings, embedding_dim]:
        raise AssertionError("Shape of weight does not match num_embeddings and embedding_dim")
    return Parameter(weight, requires_grad)


def _check_pretrained(embeddings: Tensor) -> tuple[int, int]:
    if embeddings.dim() != 2:
        raise AssertionError("Embeddings parameter is expected to be 2-dimensional")
    rows, cols = embeddings.shape
    return rows, cols


class _EmbeddingTable(Module):
    """The weight initialisation shared by both layers: N(0, 1), then the ``padding_idx`` row zeroed."""

    weight: Parameter
    padding_idx: int | None

    def reset_parameters(self) -> None:
        """Redraws the weight from N(0, 1) (ember's default generator) and zeroes the ``padding_idx`` row."""
        init.normal_(self.weight)
        self._fill_padding_idx_with_zero()

    def _fill_padding_idx_with_zero(self) -> None:
        if self.padding_idx is not None:
            with no_grad():
                self.weight[self.padding_idx].fill_(0)


class Embedding(_EmbeddingTable):
    """A lookup table of ``num_embeddings`` vectors of size ``embedding_dim``, indexed by integer tensors.

    Args:
        num_embeddings: size of the dictionary of embeddings.
        embedding_dim: the size of each embedding vector.
        padding_idx: if given, the entries at ``padding_idx`` do not contribute to the gradient, and that row is
            initialised to zeros; a negative value counts from the end.
        max_norm: if given, each looked-up vector with a norm larger than ``max_norm`` is renormalised (in place,
            in ``weight``) to norm ``max_norm``.
        norm_type: the p of the p-norm for ``max_norm``. Default: 2.
        scale_grad_by_freq: scale gradients by the inverse frequency of the words in the mini-batch.
            Default: ``False``.
        sparse: must be ``False``: ember has no sparse gradients.

    Attributes:
        weight: the learnable table of shape ``(num_embeddings, embedding_dim)``, initialised from N(0, 1).

    Shape:
        - Input: :math:`(*)`, IntTensor or LongTensor of indices.
        - Output: :math:`(*, H)` where :math:`H` is ``embedding_dim``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: Tensor | None = None, _freeze: bool = False, device=None,
                 dtype=None) -> None:
        super().__init__()
        _refuse_sparse(sparse, "Embedding")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.padding_idx = _normalise_padding_idx(padding_idx, num_embeddings, "Padding_idx")
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.weight = _table(num_embeddings, embedding_dim, _weight, not _freeze, device, dtype)
        if _weight is None:
            self.reset_parameters()
        self.sparse = sparse

    def forward(self, input: Tensor) -> Tensor:
        return F.embedding(input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
                           self.scale_grad_by_freq, self.sparse)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, padding_idx: int | None = None,
                        max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                        sparse: bool = False) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (shared, not copied).

        Args:
            embeddings: a 2-D tensor, ``(num_embeddings, embedding_dim)``.
            freeze: if ``True`` (default), the weight does not require grad.
            padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse: as for :class:`Embedding`; the
                ``padding_idx`` row keeps its pretrained values.
        """
        rows, cols = _check_pretrained(embeddings)
        return cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, _freeze=freeze,
                   padding_idx=padding_idx, max_norm=max_norm, norm_type=norm_type,
                   scale_grad_by_freq=scale_grad_by_freq, sparse=sparse)


class EmbeddingBag(_EmbeddingTable):
    """Sums, means or maxima of "bags" of embeddings, without materialising the individual lookups' output.

    Args:
        num_embeddings: size of the dictionary of embeddings.
        embedding_dim: the size of each embedding vector.
        max_norm, norm_type, scale_grad_by_freq: as for :class:`Embedding`.
        mode: ``'sum'``, ``'mean'`` or ``'max'``, the reduction over each bag. Default: ``'mean'``.
        sparse: must be ``False``: ember has no sparse gradients.
        include_last_offset: if ``True``, ``offsets`` has one more element, the end of the last bag.
        padding_idx: entries equal to ``padding_idx`` are left out of their bag (and the row initialised to zeros).

    Attributes:
        weight: the learnable table of shape ``(num_embeddings, embedding_dim)``, initialised from N(0, 1).

    Shape:
        - Input: ``(B, N)`` (B bags of N indices, ``offsets`` None) or ``(N,)`` with ``offsets`` of shape ``(B,)``
          (``(B + 1,)`` with ``include_last_offset``).
        - Output: :math:`(B, H)` where :math:`H` is ``embedding_dim``.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, max_norm: float | None = None,
                 norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                 _weight: Tensor | None = None, include_last_offset: bool = False, padding_idx: int | None = None,
                 device=None, dtype=None) -> None:
        super().__init__()
        _refuse_sparse(sparse, "EmbeddingBag")
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.padding_idx = _normalise_padding_idx(padding_idx, num_embeddings, "padding_idx")
        self.weight = _table(num_embeddings, embedding_dim, _weight, True, device, dtype)
        if _weight is None:
            self.reset_parameters()
        self.mode = mode
        self.sparse = sparse
        self.include_last_offset = include_last_offset

    def forward(self, input: Tensor, offsets: Tensor | None = None,
                per_sample_weights: Tensor | None = None) -> Tensor:
        """The reduced bags of ``input`` (bags given by the rows of a 2-D input, or by ``offsets``); with
        ``per_sample_weights`` (mode 'sum' only) each looked-up vector is scaled by its weight first."""
        return F.embedding_bag(input, self.weight, offsets, self.max_norm, self.norm_type, self.scale_grad_by_freq,
                               self.mode, self.sparse, per_sample_weights, self.include_last_offset,
                               self.padding_idx)

    def extra_repr(self) -> str:
        # PyTorch formats every field of this repr with repr(), so the mode shows quoted.
        s = f"{self.num_embeddings!r}, {self.embedding_dim!r}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm!r}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type!r}"
        if self.scale_grad_by_freq is not False:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq!r}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx!r}"
        return s

    @classmethod
    def from_pretrained(cls, embeddings: Tensor, freeze: bool = True, max_norm: float | None = None,
                        norm_type: float = 2.0, scale_grad_by_freq: bool = False, mode: str = "mean",
                        sparse: bool = False, include_last_offset: bool = False,
                        padding_idx: int | None = None) -> EmbeddingBag:
        """An EmbeddingBag whose weight is ``embeddings`` (shared, not copied); ``freeze`` (default ``True``)
        turns off its gradient. The other arguments are as for :class:`EmbeddingBag`."""
        rows, cols = _check_pretrained(embeddings)
        bag = cls(num_embeddings=rows, embedding_dim=cols, _weight=embeddings, max_norm=max_norm,
                  norm_type=norm_type, scale_grad_by_freq=scale_grad_by_freq, mode=mode, sparse=sparse,
                  include_last_offset=include_last_offset, padding_idx=padding_idx)
        bag.weight.requires_grad = not freeze
        return bag
