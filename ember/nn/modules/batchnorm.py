r"""Batch normalisation, as ``torch.nn.BatchNorm1d/2d/3d``: the same parameters, buffers (``running_mean``,
``running_var``, the int64 ``num_batches_tracked``), state_dict keys, momentum rule, input checks and repr; the
computation is :func:`ember.nn.functional.batch_norm`'s."""

from __future__ import annotations

from collections.abc import Mapping

import ember
from ember.tensor.tensor import Tensor

from .. import functional as F
from .. import init
from ._parameters import register_optional
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d"]


class _NormBase(Module):
    """The parameters and running statistics shared by the batch-normalisation layers."""

    # Version 2 added num_batches_tracked; checkpoints without it get it filled in on load.
    _version = 2

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device=None, dtype=None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        register_optional(self, "weight", num_features, affine, device, dtype)
        register_optional(self, "bias", num_features, affine and bias, device, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", ember.zeros(num_features, device=device, dtype=dtype))
            self.register_buffer("running_var", ember.ones(num_features, device=device, dtype=dtype))
            self.register_buffer("num_batches_tracked", ember.tensor(0, dtype=ember.int64, device=device))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        """Reset the running mean to 0, the running variance to 1 and the batch count to 0."""
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """Reset the running statistics, the weight to ones and the bias to zeros."""
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input: Tensor) -> None:
        raise NotImplementedError

    def extra_repr(self) -> str:
        return ("{num_features}, eps={eps}, momentum={momentum}, affine={affine}, bias={use_bias}, "
                "track_running_stats={track_running_stats}".format(**self.__dict__, use_bias=self.bias is not None))

    def _load_from_state_dict(self, state_dict: Mapping, prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list, unexpected_keys: list, error_msgs: list, assign: bool) -> None:
        version = local_metadata.get("version")
        if (version is None or version < 2) and self.track_running_stats:
            # Checkpoints older than num_batches_tracked keep the module's count, as PyTorch does.
            key = prefix + "num_batches_tracked"
            if key not in state_dict:
                state_dict[key] = (self.num_batches_tracked if self.num_batches_tracked is not None
                                   else ember.tensor(0, dtype=ember.int64))
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs, assign)


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            # momentum=None: a cumulative moving average, each batch weighing 1/(batches seen so far).
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        # In eval mode the running statistics normalise, unless there are none to use.
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_running = not self.training or self.track_running_stats
        return F.batch_norm(input, self.running_mean if use_running else None,
                            self.running_var if use_running else None, self.weight, self.bias, bn_training, factor,
                            self.eps)


class BatchNorm1d(_BatchNorm):
    r"""Applies batch normalisation over a 2-D or 3-D input:
    :math:`y = \frac{x - E[x]}{\sqrt{Var[x] + \epsilon}} \gamma + \beta`, per channel.

    In training the batch statistics normalise (biased variance) and, with ``track_running_stats``, the running
    estimates are updated as ``running = (1 - momentum) * running + momentum * batch`` (unbiased variance); in
    evaluation the running estimates normalise.

    Args:
        num_features: the number of channels :math:`C`.
        eps: added to the variance for numerical stability. Default: 1e-5.
        momentum: the weight of each new batch in the running statistics; ``None`` gives a cumulative moving
            average. Default: 0.1.
        affine: if ``True``, learnable per-channel ``weight`` (ones) and ``bias`` (zeros). Default: ``True``.
        track_running_stats: if ``True``, keep running estimates (buffers ``running_mean``, ``running_var``,
            ``num_batches_tracked``); otherwise batch statistics are used in evaluation too. Default: ``True``.
        bias: keyword-only; if ``False`` (with ``affine``), no learnable bias. Default: ``True``.

    Shape:
        - Input: :math:`(N, C)` or :math:`(N, C, L)`.
        - Output: the same shape as the input.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 2 and input.dim() != 3:
            raise ValueError(f"expected 2D or 3D input (got {input.dim()}D input)")


class BatchNorm2d(_BatchNorm):
    r"""Applies batch normalisation over a 4-D input :math:`(N, C, H, W)`, per channel; arguments and running
    statistics as :class:`BatchNorm1d`.

    Example::

        >>> m = nn.BatchNorm2d(100, affine=False)
        >>> m(ember.randn(20, 100, 35, 45)).size()
        ember.Size([20, 100, 35, 45])
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 4:
            raise ValueError(f"expected 4D input (got {input.dim()}D input)")


class BatchNorm3d(_BatchNorm):
    r"""Applies batch normalisation over a 5-D input :math:`(N, C, D, H, W)`, per channel; arguments and running
    statistics as :class:`BatchNorm1d`."""

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() != 5:
            raise ValueError(f"expected 5D input (got {input.dim()}D input)")
