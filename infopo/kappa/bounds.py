"""Certified lower bounds on condition numbers, cheap enough to compute for every tensor of a model.

A selection of the lowest-kappa tensors only needs exact values near the cut: a tensor whose kappa is certainly
above the k-th smallest value can never be selected. For a matrix A (read as (shape[0], -1), wide orientation,
G = A A^T), any unit vectors x, y give

    sigma_max(A) >= |A^T x|,     sigma_min(A) <= |A^T y|     (Rayleigh quotients of G bound its extreme eigenvalues)

so kappa(A) >= |A^T x| / |A^T y|. Good x and y come from a short Lanczos run on G (a few matrix-vector products with A
and A^T, in float32, with full reorthogonalisation): the Ritz vectors of its largest and smallest Ritz values. The
bound itself is then evaluated in float64 from those two vectors, so it holds whatever the Lanczos run's rounding,
up to float64 rounding of two matrix-vector products (relative 1e-15, far below the float64 exact values' error).
"""

from __future__ import annotations

import math

import torch

LANCZOS_STEPS = 16
"""Krylov dimension of the bound: enough to separate tensors an order of magnitude above the cut."""


def _wide(matrices: torch.Tensor) -> torch.Tensor:
    """(B, m, n) with m <= n: the orientation whose Gram matrix is the smaller one."""
    return matrices if matrices.shape[1] <= matrices.shape[2] else matrices.transpose(1, 2)


@torch.no_grad()
def kappa_lower_bounds(weights: list[torch.Tensor], steps: int = LANCZOS_STEPS, seed: int = 0) -> list[float]:
    """A certified lower bound on kappa for each matrix in ``weights`` (all of one shape), from one batched Lanczos
    run (see the module docstring). Deterministic for a given ``seed``; inf when A^T y vanishes (rank deficient)."""
    if not weights:
        return []
    rows = weights[0].shape[0]
    stacked = torch.stack([w.detach().reshape(rows, -1) for w in weights]).float()
    a = _wide(stacked)  # (B, m, n)
    batch, m, _ = a.shape
    steps = min(steps, m)
    generator = torch.Generator(device="cpu").manual_seed(seed)
    q = torch.randn(batch, m, generator=generator).to(a.device)
    basis = torch.zeros(batch, steps, m, device=a.device)
    alphas = torch.zeros(batch, steps, device=a.device)
    betas = torch.zeros(batch, steps, device=a.device)
    q = q / q.norm(dim=1, keepdim=True)
    for j in range(steps):
        basis[:, j] = q
        w = torch.bmm(a, torch.bmm(a.transpose(1, 2), q.unsqueeze(2))).squeeze(2)  # G q
        alphas[:, j] = (w * q).sum(1)
        for _ in range(2):  # full reorthogonalisation against the basis so far, twice
            w = w - torch.bmm(basis[:, : j + 1].transpose(1, 2), torch.bmm(basis[:, : j + 1], w.unsqueeze(2))).squeeze(2)
        betas[:, j] = w.norm(dim=1)
        q = w / betas[:, j : j + 1].clamp_min(torch.finfo(torch.float32).tiny)
    tridiagonal = torch.diag_embed(alphas) + torch.diag_embed(betas[:, :-1], 1) + torch.diag_embed(betas[:, :-1], -1)
    _, ritz = torch.linalg.eigh(tridiagonal.double())  # ascending Ritz values; their vectors in the Krylov basis
    vectors = torch.bmm(ritz.transpose(1, 2)[:, [0, -1]].float(), basis).double()  # (B, 2, m): smallest, largest
    exact = a.double()
    norms = torch.bmm(vectors, exact).norm(dim=2) / vectors.norm(dim=2)  # |A^T y| / |y| in float64
    bounds = []
    for smallest, largest in norms.tolist():
        bounds.append(math.inf if smallest == 0 else largest / smallest)
    return bounds
