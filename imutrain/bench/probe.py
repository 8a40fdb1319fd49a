"""The classifiers every representation is scored with: standardised logistic regression and a
small MLP, full batch, AdamW, fixed epochs (no early stopping, nothing tuned on a test fold)."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _standardise(x: np.ndarray, x_test: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    mu, sd = x.mean(0), x.std(0) + 1e-6
    return torch.from_numpy((x - mu) / sd).float(), torch.from_numpy((x_test - mu) / sd).float()


def fit_scores(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, n_cls: int, *, hidden: int = 0, epochs: int = 300,
               lr: float = 1e-3, weight_decay: float = 1e-4, seed: int = 0, batch_size: int = 0) -> np.ndarray:
    """Train on (x, y) (keys in [0, n_cls)), return class scores (logits) for ``x_test``.

    ``hidden`` 0: multinomial logistic regression; > 0: one hidden ReLU layer of that width.
    ``batch_size`` 0: full batch (one step per epoch); else seeded mini-batches per epoch.
    """
    if len(x) == 0:
        raise ValueError("no training windows for the classifier")
    g = torch.Generator().manual_seed(seed)
    X, Xt = _standardise(np.asarray(x, np.float32), np.asarray(x_test, np.float32))
    Y = torch.from_numpy(np.asarray(y, np.int64))
    d = X.shape[1]
    if hidden:
        l1, l2 = torch.nn.Linear(d, hidden), torch.nn.Linear(hidden, n_cls)
        for lin in (l1, l2):
            torch.nn.init.kaiming_uniform_(lin.weight, a=5 ** 0.5, generator=g)
            torch.nn.init.zeros_(lin.bias)
        net = torch.nn.Sequential(l1, torch.nn.ReLU(), l2)
    else:
        net = torch.nn.Linear(d, n_cls)
        torch.nn.init.kaiming_uniform_(net.weight, a=5 ** 0.5, generator=g)
        torch.nn.init.zeros_(net.bias)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    n = len(X)
    for _ in range(epochs):
        for ids in (torch.randperm(n, generator=g).split(batch_size) if batch_size else [slice(None)]):
            opt.zero_grad()
            F.cross_entropy(net(X[ids]), Y[ids]).backward()
            opt.step()
    with torch.no_grad():
        return net(Xt).numpy()
