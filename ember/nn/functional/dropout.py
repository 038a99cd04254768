"""Dropout: element-wise, channel-wise (1d/2d/3d) and the self-normalising alpha variants.

Masks come from ember's default generator, so ``ember.manual_seed`` makes them reproducible.
"""

from __future__ import annotations

import warnings

import ember
from ember.tensor.tensor import Tensor


def _check_p(p: float) -> None:
    if p < 0.0 or p > 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")


def _check_floating(input: Tensor) -> None:
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"result type Float can't be cast to the desired output type {input.dtype.scalar_name}")


def dropout(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes each element with probability ``p`` (drawn from ember's default generator) and scales the rest
    by ``1 / (1 - p)``; the identity when not ``training``."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    return _masked_dropout(input, p, input.shape, inplace)


def _masked_dropout(input: Tensor, p: float, mask_shape: tuple, inplace: bool) -> Tensor:
    """``input`` times a keep-mask of ``mask_shape`` (broadcast), scaled by ``1 / (1 - p)``."""
    _check_floating(input)
    if p == 1.0:
        result = input * 0
    else:
        keep = ember.rand(mask_shape, dtype=input.dtype) >= p
        result = input * keep / (1.0 - p)
    return input.copy_(result) if inplace else result


def _feature_dropout(input: Tensor, p: float, training: bool, inplace: bool, batched: bool) -> Tensor:
    """Dropout of whole channels (dim 1, or dim 0 when not ``batched``): one draw per (sample, channel)."""
    _check_p(p)
    if not training or p == 0.0:
        return input
    lead = 2 if batched else 1
    return _masked_dropout(input, p, tuple(input.shape[:lead]) + (1,) * (input.dim() - lead), inplace)


def _feature_dropout_warning(name: str, dim: int, spatial: int) -> None:
    warnings.warn(f"{name}: Received a {dim}-D input to {name}, which is deprecated and will result in an error in a "
                  f"future release. To retain the behavior and silence this warning, please use dropout instead. "
                  f"Note that {name} exists to provide channel-wise dropout on inputs with {spatial} spatial "
                  f"dimensions, a channel dimension, and an optional batch dimension (i.e. {spatial + 1}D or "
                  f"{spatial + 2}D inputs).", stacklevel=3)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of ``(N, C, L)`` or ``(C, L)`` input with probability ``p``."""
    if input.dim() not in (2, 3):
        raise RuntimeError(f"dropout1d: Expected 2D or 3D input, but received a {input.dim()}D input. Note that "
                           "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a "
                           "channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
    return _feature_dropout(input, p, training, inplace, input.dim() == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of ``(N, C, H, W)`` input with probability ``p`` (a 3-D input is taken as
    ``(N, C, L)``, as PyTorch does, with its warning)."""
    if input.dim() not in (3, 4):
        _feature_dropout_warning("dropout2d", input.dim(), 2)
    if input.dim() == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout "
                      "behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. "
                      "This behavior will change in a future release to interpret the input as one without a batch "
                      "dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please "
                      "switch to using dropout1d instead.", stacklevel=2)
    return _feature_dropout(input, p, training, inplace, True)


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of ``(N, C, D, H, W)`` or ``(C, D, H, W)`` input with probability ``p``."""
    if input.dim() not in (4, 5):
        _feature_dropout_warning("dropout3d", input.dim(), 3)
    return _feature_dropout(input, p, training, inplace, input.dim() == 5)


# -selu_scale * selu_alpha: the value SELU saturates to, which alpha dropout drops to.
_ALPHA = 1.7580993408473766


def _alpha_dropout(input: Tensor, p: float, training: bool, inplace: bool, mask_shape: tuple) -> Tensor:
    _check_p(p)
    if not training or p == 0.0:
        return input
    _check_floating(input)
    if p == 1.0:
        result = input * 0
    else:
        keep = (ember.rand(mask_shape, dtype=input.dtype) >= p).to(input.dtype)
        # Affine correction a, b keeping zero mean and unit variance for SELU-normalised inputs.
        a = 1.0 / ((_ALPHA * _ALPHA * p + 1) * (1 - p)) ** 0.5
        result = input * (keep * a) + ((keep - 1) * (_ALPHA * a) + _ALPHA * a * p)
    return input.copy_(result) if inplace else result


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout that keeps SELU's self-normalisation: dropped elements take SELU's saturation value, then an
    affine map restores the mean and variance."""
    return _alpha_dropout(input, p, training, inplace, tuple(input.shape))


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """``alpha_dropout`` of whole channels (one draw per sample and channel)."""
    return _alpha_dropout(input, p, training, inplace, tuple(input.shape[:2]) + (1,) * (input.dim() - 2))


__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout"]
