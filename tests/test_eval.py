"""Evaluation: probes, metrics, label budgets, splits and evaluate_encoder end to end."""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from mcgip_fast.eval import evaluate_encoder, format_summary, label_budget_indices, split_indices, summarise  # noqa: E402
from mcgip_fast.eval.metrics import classification_metrics  # noqa: E402
from mcgip_fast.eval.probes import knn_probe, linear_probe  # noqa: E402
from mcgip_fast.train.backbones import build_backbone  # noqa: E402
from mcgip_fast.train.checkpoint import save_encoder  # noqa: E402
from train_utils import make_dataset  # noqa: E402


def test_knn_weighted_votes_by_hand():
    train_x = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [-1.0, 0.0]])
    train_y = np.array([0, 0, 1, 1])
    test_x = np.array([[0.6, 0.8]])
    p = knn_probe(train_x, train_y, test_x, 2, k=2, temperature=0.1)
    # two nearest: [0.8,0.6] (cos 0.96, class 0) and [0,1] (cos 0.8, class 1)
    w0, w1 = np.exp(0.96 / 0.1), np.exp(0.8 / 0.1)
    np.testing.assert_allclose(p, [[w0 / (w0 + w1), w1 / (w0 + w1)]], rtol=1e-5)
    # k larger than the training set is capped; all four vote
    p4 = knn_probe(train_x, train_y, test_x, 2, k=200, temperature=0.1)
    s = np.array([0.6, 0.96, 0.8, -0.6])
    w = np.exp(s / 0.1)
    np.testing.assert_allclose(p4[0, 0], (w[0] + w[1]) / w.sum(), rtol=1e-5)


def test_linear_probe_separable_and_single_class():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(-3, 1, (20, 4)), rng.normal(3, 1, (20, 4))])
    y = np.repeat([0, 1], 20)
    p = linear_probe(x, y, x, 2)
    assert (p.argmax(1) == y).all()
    p1 = linear_probe(x[:5], y[:5], x, 3)
    assert (p1[:, 0] == 1).all()


def test_metrics_binary_and_multiclass():
    y = np.array([0, 0, 1, 1])
    proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.3, 0.7], [0.2, 0.8]])
    m = classification_metrics(y, proba, 2)
    assert m["accuracy"] == 0.75 and m["balanced_accuracy"] == 0.75 and m["roc_auc"] == 1.0
    y3 = np.array([0, 1, 2, 2])
    p3 = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.5, 0.1, 0.4]])
    m3 = classification_metrics(y3, p3, 3)
    assert m3["accuracy"] == 0.75
    assert m3["balanced_accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    from sklearn.metrics import roc_auc_score

    assert m3["roc_auc"] == pytest.approx(roc_auc_score(y3, p3, multi_class="ovr"))
    assert np.isnan(classification_metrics(np.array([1, 1]), np.array([[0.2, 0.8], [0.6, 0.4]]), 2)["roc_auc"])


def test_budgets_and_splits():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    sub = label_budget_indices(y, 0.1, seed=0)
    assert np.bincount(y[sub]).tolist() == [5, 3, 2]
    assert label_budget_indices(y, 0.01, seed=0).size == 3  # at least one per class
    assert not np.array_equal(label_budget_indices(y, 0.1, 0), label_budget_indices(y, 0.1, 1))
    assert label_budget_indices(y, 1.0, 5).tolist() == list(range(100))
    with pytest.raises(ValueError, match="fractions in"):
        label_budget_indices(y, 10, 0)
    tr, te = split_indices(y, None, 0.3, 0)
    assert len(te) == 30 and np.bincount(y[te]).tolist() == [15, 9, 6]
    tr, te = split_indices(y[:4], np.array(["train", "test", "Train", "val"]))
    assert tr.tolist() == [0, 2] and te.tolist() == [1, 3]
    with pytest.raises(ValueError, match="split column"):
        split_indices(y[:2], np.array(["train", "train"]))


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    root = tmp_path_factory.mktemp("ev")
    manifest, _ = make_dataset(root / "d", n=24, size=24, n_classes=3, split=True)
    torch.manual_seed(0)
    path = save_encoder(root / "encoder.pt", build_backbone("resnet18", 1, width=4))
    return path, manifest


def test_evaluate_encoder_rows_and_summary(encoder):
    path, manifest = encoder
    df = evaluate_encoder(path, manifest, budgets=(0.1, 1.0), seeds=(0, 1), image_size=16, knn_k=(5,),
                          finetune=True, finetune_epochs=1)
    assert list(df.columns) == ["probe", "budget", "seed", "n_train", "n_test", "accuracy", "balanced_accuracy", "roc_auc"]
    assert len(df) == 3 * 2 * 2  # (linear, knn@5, finetune) x budgets x seeds
    assert set(df["probe"]) == {"linear", "knn@5", "finetune"}
    assert (df["n_test"] == 6).all()  # the manifest's split column: every 4th image is test
    assert set(df.loc[df.budget == 0.1, "n_train"]) == {3} and set(df.loc[df.budget == 1.0, "n_train"]) == {18}
    assert df[["accuracy", "balanced_accuracy"]].apply(lambda c: c.between(0, 1)).all().all()
    s = summarise(df)
    assert len(s) == 6 and (s["n_seeds"] == 2).all()
    lin = df[(df.probe == "linear") & (df.budget == 1.0)]["accuracy"]
    assert s.loc[(s.probe == "linear") & (s.budget == 1.0), "accuracy_mean"].item() == pytest.approx(lin.mean())
    assert "±" in format_summary(df)


def test_evaluate_labels_from_file_and_errors(encoder, tmp_path):
    path, manifest = encoder
    df = pd.read_csv(manifest)
    labels = tmp_path / "labels.csv"
    df[["id"]].assign(label=np.arange(len(df)) % 2).to_csv(labels, index=False)
    nolab = df.drop(columns=["label", "split"]).assign(path=[str(manifest.parent / p) for p in df["path"]])
    out = evaluate_encoder(path, nolab, labels=labels, probes=("knn",), seeds=(0,), image_size=16, knn_k=(3,))
    assert len(out) == 1 and out["n_test"].item() == round(0.3 * len(df) + 0.49)
    with pytest.raises(ValueError, match="no label column"):
        evaluate_encoder(path, nolab, probes=("knn",), image_size=16)
    with pytest.raises(ValueError, match="unknown probes"):
        evaluate_encoder(path, manifest, probes=("svm",))
    with pytest.raises(ValueError, match="encoder has backbone 'resnet18', but 'resnet50' was asked for"):
        evaluate_encoder(path, manifest, backbone="resnet50")
    with pytest.raises(FileNotFoundError, match="no such encoder file"):
        evaluate_encoder(tmp_path / "none.pt", manifest)
