"""Multi-head attention, as ``torch.nn.MultiheadAttention``: the same parameters (packed ``in_proj_weight`` or
separate ``q/k/v_proj_weight`` when ``kdim``/``vdim`` differ), initialisation, state_dict keys and repr; the
computation is :func:`ember.nn.functional.multi_head_attention_forward`."""

from __future__ import annotations

import ember
from ember.tensor.tensor import Tensor

from .. import functional as F
from ..init import constant_, xavier_normal_, xavier_uniform_
from ..parameter import Parameter
from .linear import Linear
from .module import Module

__all__ = ["MultiheadAttention"]


class NonDynamicallyQuantizableLinear(Linear):
    """The ``out_proj`` of :class:`MultiheadAttention`: a plain :class:`Linear` under PyTorch's class name, so the
    module's repr is PyTorch's (PyTorch uses the name to keep dynamic quantization away from it)."""


class MultiheadAttention(Module):
    """Allows the model to jointly attend to information from different representation subspaces:
    ``MultiHead(Q, K, V) = Concat(head_1, ..., head_h) W^O`` with ``head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V)``.

    Args:
        embed_dim: total dimension of the model; split across ``num_heads`` heads of ``embed_dim // num_heads``.
        num_heads: number of parallel attention heads.
        dropout: dropout probability on the attention weights, in training. Default: 0.0.
        bias: adds biases to the input and output projections. Default: ``True``.
        add_bias_kv: adds learned ``bias_k``/``bias_v`` to the key and value sequences. Default: ``False``.
        add_zero_attn: appends a zero step to the key and value sequences. Default: ``False``.
        kdim: features of the keys. Default: ``embed_dim``.
        vdim: features of the values. Default: ``embed_dim``.
        batch_first: inputs and output as ``(batch, seq, feature)``. Default: ``False`` (seq, batch, feature).

    Shape:
        - query ``(L, E)``, ``(L, N, E)`` or with ``batch_first`` ``(N, L, E)``; key ``(S, E_k)``/``(S, N, E_k)``;
          value ``(S, E_v)``/``(S, N, E_v)``.
        - output ``(L, E)``/``(L, N, E)``/``(N, L, E)``; weights ``(L, S)`` or ``(N, L, S)`` (averaged over heads)
          or ``(num_heads, L, S)``/``(N, num_heads, L, S)``.

    Example::

        >>> mha = nn.MultiheadAttention(16, 4)
        >>> x = ember.randn(5, 2, 16)
        >>> out, weights = mha(x, x, x)
        >>> out.shape, weights.shape
        (ember.Size([5, 2, 16]), ember.Size([2, 5, 5]))
    """

    bias_k: Tensor | None
    bias_v: Tensor | None

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = False, device=None, dtype=None) -> None:
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and "
                             f"num_heads={num_heads} instead")
        factory = {"device": device, "dtype": dtype}
        super().__init__()
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        if self.head_dim * num_heads != self.embed_dim:
            raise AssertionError("embed_dim must be divisible by num_heads")
        if not self._qkv_same_embed_dim:
            self.q_proj_weight = Parameter(ember.empty((embed_dim, embed_dim), **factory))
            self.k_proj_weight = Parameter(ember.empty((embed_dim, self.kdim), **factory))
            self.v_proj_weight = Parameter(ember.empty((embed_dim, self.vdim), **factory))
            self.register_parameter("in_proj_weight", None)
        else:
            self.in_proj_weight = Parameter(ember.empty((3 * embed_dim, embed_dim), **factory))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(ember.empty(3 * embed_dim, **factory))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(embed_dim, embed_dim, bias=bias, **factory)
        if add_bias_kv:
            self.bias_k = Parameter(ember.empty((1, 1, embed_dim), **factory))
            self.bias_v = Parameter(ember.empty((1, 1, embed_dim), **factory))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        """PyTorch's recipe: xavier_uniform_ projections, zero biases, xavier_normal_ ``bias_k``/``bias_v``
        (``out_proj.weight`` keeps :class:`Linear`'s own initialisation)."""
        if self._qkv_same_embed_dim:
            xavier_uniform_(self.in_proj_weight)
        else:
            xavier_uniform_(self.q_proj_weight)
            xavier_uniform_(self.k_proj_weight)
            xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            constant_(self.in_proj_bias, 0.0)
            constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            xavier_normal_(self.bias_k)
        if self.bias_v is not None:
            xavier_normal_(self.bias_v)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, key_padding_mask: Tensor | None = None,
                need_weights: bool = True, attn_mask: Tensor | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
        """Attention of ``query`` over ``key``/``value``.

        Args:
            key_padding_mask: ``(N, S)`` (or ``(S)`` unbatched); ``True`` (bool) marks keys to ignore, a float
                mask is added to the scores.
            need_weights: also return the attention weights. Default: ``True``.
            attn_mask: ``(L, S)`` or ``(N * num_heads, L, S)``; bool ``True`` forbids a position, a float mask is
                added to the scores.
            average_attn_weights: average the returned weights over heads. Default: ``True``.
            is_causal: a hint that ``attn_mask`` is the causal mask (which must still be given).

        Returns:
            ``(attn_output, attn_output_weights)``, the weights ``None`` when ``need_weights`` is ``False``.
        """
        is_batched = query.dim() == 3
        if self.batch_first and is_batched:
            query, key, value = (x.transpose(1, 0) for x in (query, key, value))
        separate = {} if self._qkv_same_embed_dim else {
            "use_separate_proj_weight": True, "q_proj_weight": self.q_proj_weight,
            "k_proj_weight": self.k_proj_weight, "v_proj_weight": self.v_proj_weight}
        attn_output, attn_output_weights = F.multi_head_attention_forward(
            query, key, value, self.embed_dim, self.num_heads, self.in_proj_weight, self.in_proj_bias, self.bias_k,
            self.bias_v, self.add_zero_attn, self.dropout, self.out_proj.weight, self.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=need_weights,
            attn_mask=attn_mask, average_attn_weights=average_attn_weights, is_causal=is_causal, **separate)
        if self.batch_first and is_batched:
            attn_output = attn_output.transpose(1, 0)
        return attn_output, attn_output_weights
