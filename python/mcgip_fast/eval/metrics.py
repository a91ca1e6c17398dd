"""Classification metrics for the probes."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, roc_auc_score

__all__ = ["classification_metrics"]


def classification_metrics(y_true: np.ndarray, proba: np.ndarray, n_classes: int) -> dict[str, float]:
    """Accuracy, balanced accuracy and ROC-AUC (one-vs-rest macro for more than two classes).

    `proba` is (n, n_classes). ROC-AUC is NaN when the test set holds a single class.
    """
    y_true = np.asarray(y_true)
    pred = proba.argmax(axis=1)
    with warnings.catch_warnings():  # classes absent from a small test set are expected, not news
        warnings.simplefilter("ignore")
        out = {"accuracy": float(accuracy_score(y_true, pred)), "balanced_accuracy": float(balanced_accuracy_score(y_true, pred))}
    if len(np.unique(y_true)) < 2:
        out["roc_auc"] = float("nan")
        return out
    try:
        if n_classes == 2:
            out["roc_auc"] = float(roc_auc_score(y_true, proba[:, 1]))
        else:
            present = np.unique(y_true)
            p = proba[:, present]
            p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
            out["roc_auc"] = float(roc_auc_score(y_true, p, multi_class="ovr", labels=present)) if len(present) > 2 else (
                float(roc_auc_score(y_true == present[1], p[:, 1])) if len(present) == 2 else float("nan"))
    except ValueError:
        out["roc_auc"] = float("nan")
    return out
