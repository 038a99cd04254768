"""ember quick start: eager tensors with PyTorch's API.

Until the training issue lands, the main job is this tour: it fits a least-squares line with eager
ops and again by gradient descent with autograd, checks both against NumPy, and shows views,
broadcasting and indexing.
Run: ``.venv/bin/python examples/quickstart.py``.
"""

from __future__ import annotations

import numpy as np

import ember as torch  # ember answers to PyTorch's names


def main() -> None:
    torch.manual_seed(0)

    # Noisy samples of y = 3x - 1, fitted with the normal equations: X^T X w = X^T y.
    x = torch.linspace(-1, 1, 200)
    y = 3 * x - 1 + 0.05 * torch.randn(200)
    design = torch.stack([x, torch.ones_like(x)], dim=1)
    gram = design.T @ design
    rhs = design.T @ y
    det = gram[0, 0] * gram[1, 1] - gram[0, 1] * gram[1, 0]
    slope = (gram[1, 1] * rhs[0] - gram[0, 1] * rhs[1]) / det
    intercept = (gram[0, 0] * rhs[1] - gram[1, 0] * rhs[0]) / det
    reference = np.linalg.lstsq(design.numpy(), y.numpy(), rcond=None)[0]
    print(f"fit: y = {slope.item():.3f} x + {intercept.item():.3f}", end="   ")
    print(f"(numpy lstsq: {reference[0]:.3f} x + {reference[1]:.3f})")
    assert abs(slope.item() - reference[0]) < 1e-3 and abs(intercept.item() - reference[1]) < 1e-3

    # The same fit by gradient descent: autograd computes d(loss)/d(w) through the graph.
    w = torch.zeros(2, requires_grad=True)
    for _ in range(300):
        loss = ((design @ w - y) ** 2).mean()
        loss.backward()
        with torch.no_grad():
            w -= 0.5 * w.grad
        w.grad = None
    print(f"gradient descent: y = {w[0].item():.3f} x + {w[1].item():.3f}   (loss {loss.item():.5f})")
    assert abs(w[0].item() - reference[0]) < 1e-2 and abs(w[1].item() - reference[1]) < 1e-2

    # Views share storage: writing through a transposed slice changes the base.
    base = torch.arange(12).reshape(3, 4)
    base.T[1:3, 0] = -1
    print("after writing through a view:\n", base)

    # Broadcasting, reductions, softmax and indexing, with PyTorch's dtypes and promotion.
    logits = torch.randn(4, 5)
    probs = torch.softmax(logits, dim=-1)
    print("softmax rows sum to", probs.sum(dim=1))
    top = probs.topk(2, dim=1)
    print("top-2 classes per row:", top.indices.tolist())
    mask = probs > 0.2
    print("entries above 0.2:", probs[mask].numel(), "| dtype of int + float:", (torch.tensor([1, 2]) + 0.5).dtype)
    print("ok")


if __name__ == "__main__":
    main()
