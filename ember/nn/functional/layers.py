"""Linear maps, normalisations and attention, composed from ember tensor ops."""

from __future__ import annotations

import math

import ml_dtypes

import ember
from ember.tensor.shape_rules import broadcast_shapes
from ember.tensor.tensor import Tensor

from .activation import _floating_only
from .linear_kernels import can_fuse_linear, fused_linear


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``."""
    if can_fuse_linear(input, weight, bias):
        return fused_linear(input, weight, bias)
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``out[..., o] = input1[..., i] * weight[o, i, j] * input2[..., j] + bias[o]``."""
    out = ember.einsum("...i,oij,...j->...o", input1, weight, input2)
    return out if bias is None else out + bias


def _normalize(x: Tensor, dims: tuple, eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(x - mean) / sqrt(var + eps)`` over ``dims`` (biased variance), with the mean and variance."""
    mean = x.mean(dims, keepdim=True)
    var = x.var(dims, keepdim=True, correction=0)
    return (x - mean) * ember.rsqrt(var + eps), mean, var


def _trailing_dims(input: Tensor, normalized_shape) -> tuple:
    """The dims that ``normalized_shape`` names (the last ones), after checking they match ``input``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if len(shape) > input.dim() or tuple(input.shape[input.dim() - len(shape):]) != shape:
        raise RuntimeError(f"Given normalized_shape={list(shape)}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of size{list(input.shape)}")
    return tuple(range(input.dim() - len(shape), input.dim()))


def layer_norm(input: Tensor, normalized_shape: list[int], weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalises over the last ``len(normalized_shape)`` dims, then applies the elementwise affine."""
    _floating_only(input, "LayerNormKernelImpl")
    out, _, _ = _normalize(input, _trailing_dims(input, normalized_shape), eps)
    if weight is not None:
        out = out * weight
    return out if bias is None else out + bias


def rms_norm(input: Tensor, normalized_shape: list[int], weight: Tensor | None = None,
             eps: float | None = None) -> Tensor:
    """``x / sqrt(mean(x**2) + eps)`` over the last ``len(normalized_shape)`` dims, times ``weight``; ``eps``
    defaults to the machine epsilon of ``input``'s dtype."""
    dims = _trailing_dims(input, normalized_shape)
    if eps is None:
        eps = float(ml_dtypes.finfo(input.dtype.np_dtype).eps)
    out = input * ember.rsqrt((input * input).mean(dims, keepdim=True) + eps)
    return out if weight is None else out * weight


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C * r**2, H, W)`` to ``(*, C, H * r, W * r)``: channel blocks become spatial blocks."""
    r = upscale_factor
    if input.dim() < 3:
        raise RuntimeError(f"pixel_shuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.dim()} dimension(s)")
    *batch, c, h, w = input.shape
    if c % (r * r):
        raise RuntimeError(f"pixel_shuffle expects its input's 'channel' dimension to be divisible by the square of "
                           f"upscale_factor, but input.size(-3)={c} is not divisible by {r * r}")
    n = len(batch)
    x = input.reshape(*batch, c // (r * r), r, r, h, w)
    x = x.permute(*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return x.reshape(*batch, c // (r * r), h * r, w * r)


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H * r, W * r)`` to ``(*, C * r**2, H, W)``, the inverse of ``pixel_shuffle``."""
    r = downscale_factor
    if input.dim() < 3:
        raise RuntimeError(f"pixel_unshuffle expects input to have at least 3 dimensions, but got input with "
                           f"{input.dim()} dimension(s)")
    *batch, c, h, w = input.shape
    if h % r or w % r:
        raise RuntimeError(f"pixel_unshuffle expects height and width to be divisible by downscale_factor, but got "
                           f"input.size(-2)={h} and input.size(-1)={w} with downscale_factor={r}")
    n = len(batch)
    x = input.reshape(*batch, c, h // r, r, w // r, r)
    x = x.permute(*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return x.reshape(*batch, c * r * r, h // r, w // r)


def _channel_shape(input: Tensor) -> tuple:
    return (1, -1) + (1,) * (input.dim() - 2)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalises each of ``num_groups`` channel groups per sample, then applies the per-channel affine."""
    if input.dim() < 2:
        raise RuntimeError(f"Expected at least 2 dimensions for input tensor but received {input.dim()}")
    n, c = input.shape[0], input.shape[1]
    if c % num_groups:
        raise RuntimeError(f"Expected number of channels in input to be divisible by num_groups, but got input "
                           f"of shape {list(input.shape)} and num_groups={num_groups}")
    _floating_only(input, "GroupNormKernelImpl")
    grouped = input.reshape(n, num_groups, -1)
    out, _, _ = _normalize(grouped, (2,), eps)
    return _channel_affine(input, out.reshape(input.shape), weight, bias)


def _normalize_with(input: Tensor, mean: Tensor, var: Tensor, eps: float) -> Tensor:
    """``input`` normalised per channel (dim 1) with the given per-channel statistics."""
    shape = _channel_shape(input)
    return (input - mean.reshape(shape)) * ember.rsqrt(var.reshape(shape) + eps)


def _channel_affine(input: Tensor, out: Tensor, weight: Tensor | None, bias: Tensor | None) -> Tensor:
    """``out * weight + bias`` with per-channel (dim 1 of ``input``) weight and bias, each optional."""
    if weight is not None:
        out = out * weight.reshape(_channel_shape(input))
    return out if bias is None else out + bias.reshape(_channel_shape(input))


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalises each channel (dim 1) with the batch statistics when ``training`` (updating the running ones
    in place with ``momentum``, the variance unbiased), else with ``running_mean``/``running_var``."""
    _floating_only(input, "batch_norm")
    if training:
        size = input.numel() // input.shape[1] if input.dim() > 1 and input.shape[1] else input.numel()
        if size == 1:
            raise ValueError(f"Expected more than 1 value per channel when training, got input size {input.shape}")
        dims = (0,) + tuple(range(2, input.dim()))
        out, mean, var = _normalize(input, dims, eps)
        with ember.no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(mean.reshape(-1) * momentum)
            if running_var is not None:
                running_var.mul_(1 - momentum).add_(var.reshape(-1) * (momentum * size / (size - 1)))
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("running_mean and running_var must be defined in evaluation mode")
        out = _normalize_with(input, running_mean, running_var, eps)
    return _channel_affine(input, out, weight, bias)


def instance_norm(input: Tensor, running_mean: Tensor | None = None, running_var: Tensor | None = None,
                  weight: Tensor | None = None, bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalises each channel of each sample over its spatial dims (with ``use_input_stats``; else with the
    running statistics); the running statistics are updated with the batch average of the per-sample ones."""
    if use_input_stats:
        size = math.prod(input.shape[2:])
        if size == 1:
            raise ValueError(f"Expected more than 1 spatial element when training, got input size {input.shape}")
        out, mean, var = _normalize(input, tuple(range(2, input.dim())), eps)
        with ember.no_grad():
            if running_mean is not None:
                running_mean.mul_(1 - momentum).add_(mean.reshape(input.shape[:2]).mean(0) * momentum)
            if running_var is not None:
                unbiased = var.reshape(input.shape[:2]).mean(0) * (size / (size - 1))
                running_var.mul_(1 - momentum).add_(unbiased * momentum)
    else:
        if running_mean is None or running_var is None:
            raise RuntimeError("Expected running_mean and running_var to be defined when use_input_stats is false")
        out = _normalize_with(input, running_mean, running_var, eps)
    return _channel_affine(input, out, weight, bias)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> Tensor:
    """Divides each element by ``(k + alpha * mean of squares over `size` neighbouring channels)**beta``."""
    from .conv import pad
    from .pooling import avg_pool2d, avg_pool3d

    if input.dim() < 3:
        raise ValueError(f"Expected 3D or higher dimensionality input (got {input.dim()} dimensions)")
    if input.numel() == 0:
        return input
    div = input * input
    if input.dim() == 3:
        div = pad(div.unsqueeze(1), (0, 0, size // 2, (size - 1) // 2))
        div = avg_pool2d(div, (size, 1), stride=1).squeeze(1)
    else:
        sizes = input.shape
        div = pad(div.reshape(sizes[0], 1, sizes[1], sizes[2], -1), (0, 0, 0, 0, size // 2, (size - 1) // 2))
        div = avg_pool3d(div, (size, 1, 1), stride=1).squeeze(1).reshape(sizes)
    return input / (div * alpha + k).pow(beta)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out: Tensor | None = None) -> Tensor:
    """``input / max(||input||_p, eps)`` along ``dim``."""
    result = input / input.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(input)
    return result if out is None else out.copy_(result)


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``sum(x1 * x2) / (max(||x1||, eps) * max(||x2||, eps))`` along ``dim``, after broadcasting."""
    shape = broadcast_shapes(x1.shape, x2.shape)
    x1, x2 = x1.broadcast_to(shape), x2.broadcast_to(shape)

    def unit(x: Tensor) -> Tensor:
        norm = x.norm(2, dim, keepdim=True)
        # PyTorch clamps the norms in place under no_grad: the value is clamped, the gradient is the norm's.
        return x / (norm + (norm.clamp(min=eps) - norm).detach())

    return (unit(x1) * unit(x2)).sum(dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """``||x1 - x2 + eps||_p`` over the last dim."""
    dim = -1 if max(x1.dim(), x2.dim()) > 0 else 0
    return (x1 - x2 + eps).norm(p, dim, keepdim=keepdim)


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor, attn_mask: Tensor | None = None,
                                 dropout_p: float = 0.0, is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """``softmax(query @ key.T * scale + mask) @ value``; a bool ``attn_mask`` marks the positions that may be
    attended, a float one is added; ``is_causal`` masks the future; dropout is applied to the weights."""
    length, source = query.shape[-2], key.shape[-2]
    scale = 1.0 / math.sqrt(query.shape[-1]) if scale is None else scale
    if enable_gqa and key.dim() > 2 and key.shape[-3] != query.shape[-3]:
        repeats = query.shape[-3] // key.shape[-3]
        key = key.repeat_interleave(repeats, dim=-3)
        value = value.repeat_interleave(repeats, dim=-3)
    scores = query.matmul(key.transpose(-2, -1)) * scale
    if is_causal:
        if attn_mask is not None:
            raise RuntimeError("_scaled_dot_product_attention: Explicit attn_mask should not be set when "
                               "is_causal=True")
        allowed = ember.ones(length, source, dtype=ember.bool).tril()
        scores = scores.masked_fill(allowed.logical_not(), float("-inf"))
    elif attn_mask is not None:
        if attn_mask.dtype is ember.bool:
            scores = scores.masked_fill(attn_mask.logical_not(), float("-inf"))
        else:
            scores = scores + attn_mask
    if is_causal or attn_mask is not None:
        # PyTorch's safe softmax: a query that may attend to nothing gets zero weights, not NaN (and no NaN
        # gradient either, so its scores are neutralised before the softmax).
        dead = (scores == float("-inf")).all(-1, keepdim=True)
        weights = ember.softmax(scores.masked_fill(dead, 0.0), -1).masked_fill(dead, 0.0)
    else:
        weights = ember.softmax(scores, -1)
    if dropout_p > 0.0:
        from .dropout import dropout

        weights = dropout(weights, dropout_p)
    return weights.matmul(value)


__all__ = ["linear", "bilinear", "rms_norm", "pixel_shuffle", "pixel_unshuffle", "layer_norm",
           "group_norm", "batch_norm", "instance_norm", "local_response_norm", "normalize", "cosine_similarity",
           "pairwise_distance", "scaled_dot_product_attention"]
