"""Probes on frozen features (logistic regression, weighted kNN) and full fine-tuning."""

from __future__ import annotations

import numpy as np

__all__ = ["linear_probe", "knn_probe", "finetune_probe"]


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, n_classes: int, seed: int = 0) -> np.ndarray:
    """Logistic regression on standardised features; returns (n_test, n_classes) probabilities."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    proba = np.zeros((len(test_x), n_classes))
    classes = np.unique(train_y)
    if len(classes) == 1:  # a tiny budget can leave one class: predict it
        proba[:, classes[0]] = 1.0
        return proba
    clf = LogisticRegression(max_iter=2000, random_state=seed).fit(scaler.transform(train_x), train_y)
    proba[:, clf.classes_] = clf.predict_proba(scaler.transform(test_x))
    return proba


def knn_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, n_classes: int, k: int = 20,
              temperature: float = 0.1, chunk: int = 1024) -> np.ndarray:
    """Weighted kNN (Wu et al. 2018): cosine similarity, the k nearest vote with exp(s / T).

    Returns normalised class votes as probabilities. k is capped at the training-set size.
    """
    def norm(x):
        return x / np.clip(np.linalg.norm(x, axis=1, keepdims=True), 1e-12, None)

    tr, te = norm(train_x.astype(np.float32)), norm(test_x.astype(np.float32))
    k = min(k, len(tr))
    onehot = np.eye(n_classes, dtype=np.float64)[train_y]
    out = np.empty((len(te), n_classes))
    for lo in range(0, len(te), chunk):
        sim = te[lo : lo + chunk] @ tr.T
        nn = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        s = np.take_along_axis(sim, nn, axis=1).astype(np.float64)
        w = np.exp((s - s.max(axis=1, keepdims=True)) / temperature)  # shift: same votes, no overflow
        votes = np.einsum("nk,nkc->nc", w, onehot[nn])
        out[lo : lo + chunk] = votes / votes.sum(axis=1, keepdims=True)
    return out


def finetune_probe(encoder_state: dict, build, train_imgs, train_y, test_imgs, n_classes: int, *, seed: int = 0,
                   epochs: int = 10, lr: float = 1e-3, batch_size: int = 32, device: str = "cpu") -> np.ndarray:
    """Fine-tune the whole backbone plus a linear head (Adam, random flips); returns test probabilities.

    `build()` returns a fresh backbone; `train_imgs` / `test_imgs` are (n, C, S, S) tensors.
    """
    import torch
    import torch.nn as nn

    torch.manual_seed(seed)
    backbone = build()
    backbone.load_state_dict(encoder_state)
    model = nn.Sequential(backbone, nn.Linear(backbone.feature_dim, n_classes)).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    y = torch.as_tensor(train_y, dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    bs = max(2, min(batch_size, len(y)))
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(y), generator=g)
        for lo in range(0, len(y) - (len(y) % bs if len(y) > bs else 0), bs):
            idx = perm[lo : lo + bs]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            x = train_imgs[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            x = torch.where(flip[:, None, None, None], x.flip(-1), x).to(device)
            loss = nn.functional.cross_entropy(model(x), y[idx].to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(test_imgs[lo : lo + 256].to(device)).cpu() for lo in range(0, len(test_imgs), 256)])
    return torch.softmax(logits.float(), dim=1).numpy()
