"""Losses, positive masks and the device look-up, on hand-built cases."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

# tiny tensors: one thread avoids OpenMP spinning on a shared, busy machine
torch.set_num_threads(1)

from mcgip_fast.mining import PositivePairs  # noqa: E402
from mcgip_fast.train.backbones import build_backbone  # noqa: E402
from mcgip_fast.train.byol import BYOL  # noqa: E402
from mcgip_fast.train.losses import multi_positive_infonce, predictive_cosine_loss  # noqa: E402
from mcgip_fast.train.moco import MoCo  # noqa: E402
from mcgip_fast.train.positives import PositiveLookup  # noqa: E402
from mcgip_fast.train.queue import KeyQueue  # noqa: E402
from mcgip_fast.train.simclr import SimCLR  # noqa: E402
from mcgip_fast.train.simsiam import SimSiam  # noqa: E402

IDS = [f"img{i}" for i in range(6)]
# 0-1 (0.9), 0-2 (0.4), 3-4 (0.6); 5 has no positives
PAIRS = PositivePairs.from_edges(IDS, [0, 0, 3], [1, 2, 4], [0.9, 0.4, 0.6])


def brute_weights(pairs, anchors, cands, soft=False):
    w = np.zeros((len(anchors), len(cands)), np.float32)
    n = len(pairs)
    for r, a in enumerate(anchors):
        for c, b in enumerate(cands):
            if a < 0 or b < 0:
                continue
            if a == b:
                w[r, c] = 1.0
            elif a < n and b < n and pairs.are_positive([a], [b])[0]:
                if soft:
                    nb, sc = pairs.neighbours(a)
                    w[r, c] = min(max(sc[list(nb).index(b)], 0), 1)
                else:
                    w[r, c] = 1.0
    return w


@pytest.mark.parametrize("soft", [False, True])
def test_lookup_matches_brute_force(soft):
    lookup = PositiveLookup.from_pairs(PAIRS)
    anchors = torch.tensor([0, 1, 2, 3, 5, 7])
    cands = torch.tensor([-1, 0, 1, 2, 3, 4, 5, 6, 7, 1, -1, 2])
    got = lookup.weights(anchors, cands, soft=soft).numpy()
    np.testing.assert_array_equal(got, brute_weights(PAIRS, anchors.tolist(), cands.tolist(), soft))
    # spot checks on the hand-built graph
    assert got[0, 0] == 0  # empty slot never positive
    assert got[0, 1] == 1  # itself
    assert got[0, 2] == (0.9 if soft else 1.0)
    assert got[1, 3] == 0  # 1 and 2 are not linked (not transitive)
    assert got[5].tolist() == [0] * 8 + [1, 0, 0, 0]  # index 7 >= n: only itself
    # index aliasing: 0 * 6 + 7 == 1 * 6 + 1 must not make (0, 7) look like the edge (1, 1)/(1, ...)
    assert lookup.weights(torch.tensor([0]), torch.tensor([7])).item() == 0


def test_lookup_random_graph_matches_are_positive():
    rng = np.random.default_rng(0)
    n = 50
    i, j = rng.integers(0, n, 200), rng.integers(0, n, 200)
    pairs = PositivePairs.from_edges([str(k) for k in range(n)], i, j, rng.random(200), symmetric=False)
    for trial in range(20):
        a = rng.integers(-1, n + 3, 40)
        c = rng.integers(-1, n + 3, 70)  # repeated ids, empty slots, ids outside the graph
        for soft in (False, True):
            got = PositiveLookup.from_pairs(pairs).weights(torch.from_numpy(a), torch.from_numpy(c), soft=soft).numpy()
            np.testing.assert_allclose(got, brute_weights(pairs, a.tolist(), c.tolist(), soft), rtol=1e-6)


def test_identity_lookup_and_drop():
    ident = PositiveLookup.identity()
    w = ident.weights(torch.tensor([0, 1]), torch.tensor([1, 0, 0, -1]))
    assert w.tolist() == [[0, 1, 1, 0], [1, 0, 0, 0]]
    lookup = PositiveLookup.from_pairs(PAIRS)
    a, c = torch.tensor([0, 1]), torch.tensor([0, 1, 2])
    dropped = lookup.weights(a, c, drop_p=1.0)
    assert dropped.tolist() == [[1, 0, 0], [0, 1, 0]]  # gaze positives gone, own image kept
    g = torch.Generator().manual_seed(0)
    big = lookup.weights(torch.zeros(4000, dtype=torch.long), torch.tensor([1]), drop_p=0.3, generator=g)
    assert 0.65 < big.mean().item() < 0.75
    with pytest.raises(ValueError, match="drop_p"):
        lookup.weights(a, c, drop_p=1.5)


def test_lookup_rejects_bad_csr():
    with pytest.raises(ValueError, match="non-decreasing"):
        PositiveLookup([0, 2, 1], [0], [1.0])
    with pytest.raises(ValueError, match="entries"):
        PositiveLookup([0, 1, 2], [1], [1.0])
    with pytest.raises(ValueError, match="out of range for 2 items"):
        PositiveLookup([0, 1, 1], [5], [1.0])


def test_lookup_self_loop_and_soft_with_repeated_candidates():
    lookup = PositiveLookup([0, 2, 3], [0, 1, 0], [0.3, 0.6, 0.6])  # 0 has a self-loop
    w = lookup.weights(torch.tensor([0, 1]), torch.tensor([1, 0, 1, -1, 0]), soft=True)
    np.testing.assert_allclose(w.numpy(), [[0.6, 1, 0.6, 0, 1], [1, 0.6, 1, 0, 0.6]], rtol=1e-6)


def test_infonce_one_positive_equals_cross_entropy():
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(5, 9, generator=g)
    target = torch.tensor([0, 3, 8, 2, 2])
    w = F.one_hot(target, 9).float()
    ref = F.cross_entropy(logits, target)
    for avg in ("anchor", "batch"):
        torch.testing.assert_close(multi_positive_infonce(logits, w, average=avg), ref)


def test_infonce_multi_positive_hand_computed():
    logits = torch.tensor([[1.0, 2.0, 0.0], [0.5, 0.0, -1.0]])
    w = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    lp = torch.log_softmax(logits, 1)
    per_anchor = torch.stack([-(lp[0, 0] + lp[0, 1]) / 2, -lp[1, 0]])
    torch.testing.assert_close(multi_positive_infonce(logits, w), per_anchor.mean())
    torch.testing.assert_close(multi_positive_infonce(logits, w, average="batch"), -(lp[0, 0] + lp[0, 1] + lp[1, 0]) / 3)
    # soft weights: weighted mean of -log p over positives
    ws = torch.tensor([[1.0, 0.5, 0.0], [1.0, 0.0, 0.0]])
    torch.testing.assert_close(multi_positive_infonce(logits, ws), torch.stack([-(lp[0, 0] + 0.5 * lp[0, 1]) / 1.5, -lp[1, 0]]).mean())


def test_infonce_exclude_is_nt_xent():
    g = torch.Generator().manual_seed(2)
    b, tau = 4, 0.5
    z = F.normalize(torch.randn(2 * b, 8, generator=g), dim=1)
    sim = z @ z.T / tau
    # textbook NT-Xent: self removed from the denominator, the other view is the target
    target = torch.cat([torch.arange(b, 2 * b), torch.arange(b)])
    ref = F.cross_entropy(sim.masked_fill(torch.eye(2 * b, dtype=torch.bool), float("-inf")), target)
    w = F.one_hot(target, 2 * b).float()
    got = multi_positive_infonce(sim, w, exclude=torch.eye(2 * b, dtype=torch.bool))
    torch.testing.assert_close(got, ref)


def test_infonce_errors():
    with pytest.raises(ValueError, match="average"):
        multi_positive_infonce(torch.zeros(2, 2), torch.eye(2), average="mean")
    with pytest.raises(ValueError, match=r"\(B, M\)"):
        multi_positive_infonce(torch.zeros(2, 3), torch.eye(2))
    # no anchor has a positive: zero loss that still backpropagates
    x = torch.zeros(2, 2, requires_grad=True)
    loss = multi_positive_infonce(x, torch.zeros(2, 2))
    loss.backward()
    assert loss.item() == 0


@pytest.mark.parametrize("kind", ["byol", "simsiam"])
def test_predictive_loss_one_positive_is_standard(kind):
    g = torch.Generator().manual_seed(3)
    p, z = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g)
    cos = F.cosine_similarity(p, z, dim=1)
    ref = (2 - 2 * cos).mean() if kind == "byol" else -cos.mean()
    for avg in ("anchor", "batch"):
        torch.testing.assert_close(predictive_cosine_loss(p, z, torch.eye(6), kind=kind, average=avg), ref)
    # two positives for anchor 0: its mean over both targets
    w = torch.eye(6)
    w[0, 3] = 1
    c03 = F.cosine_similarity(p[0], z[3], dim=0)
    per = 2 - 2 * cos if kind == "byol" else -cos
    extra = 2 - 2 * c03 if kind == "byol" else -c03
    exp = torch.cat([((per[0] + extra) / 2).reshape(1), per[1:]]).mean()
    torch.testing.assert_close(predictive_cosine_loss(p, z, w, kind=kind), exp)
    torch.testing.assert_close(predictive_cosine_loss(p, z, w, kind=kind, average="batch"), (per.sum() + extra) / 7)
    with pytest.raises(ValueError, match="kind"):
        predictive_cosine_loss(p, z, w, kind="moco")


def test_queue_ring_and_errors():
    q = KeyQueue(3, 6)
    assert q.ids.tolist() == [-1] * 6
    q.enqueue(torch.ones(2, 3), torch.tensor([4, 5]))
    q.enqueue(torch.ones(2, 3), torch.tensor([6, 7]))
    q.enqueue(torch.ones(2, 3), torch.tensor([8, 9]))
    q.enqueue(torch.ones(2, 3), torch.tensor([1, 2]))
    assert q.ids.tolist() == [1, 2, 6, 7, 8, 9] and int(q.ptr) == 2
    with pytest.raises(ValueError, match="not a multiple of the global batch size 4"):
        q.enqueue(torch.ones(4, 3), torch.arange(4))


def _tiny(method_cls, lookup=None, **kw):
    torch.manual_seed(0)
    return method_cls(build_backbone("resnet18", 1, width=4), lookup=lookup, **kw)


def test_moco_baseline_equals_official_moco_v2():
    m = _tiny(MoCo, queue_size=8, proj_dim=16, hidden_dim=16, in_batch_keys=False, temperature=0.2)
    x1, x2, ids = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16), torch.tensor([0, 1, 2, 3])
    m.queue.ids[4:] = torch.tensor([0, 1, 2, 3])  # same images in the queue: still negatives for the baseline
    queue = m.queue.keys.clone()
    with torch.no_grad():
        q = F.normalize(m.projector(m.backbone(x1)), dim=1)
        k = F.normalize(m.key_projector(m.key_backbone(x2)), dim=1)
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / 0.2
    ref = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    out = m(x1, x2, ids)
    torch.testing.assert_close(out.loss, ref)
    assert out.n_gaze_positives.item() == 0
    # keys and ids were enqueued
    assert m.queue.ids.tolist() == [0, 1, 2, 3, 0, 1, 2, 3] and int(m.queue.ptr) == 4
    torch.testing.assert_close(m.queue.keys[:4], k)


def test_moco_gaze_mask_queue_ids_empty_slots_and_batch():
    m = _tiny(MoCo, PositiveLookup.from_pairs(PAIRS), queue_size=8, proj_dim=8, hidden_dim=8)
    m.queue.ids[:] = torch.tensor([-1, 1, 0, 5, 4, -1, 2, 3])
    ids = torch.tensor([0, 3, 5, 2])
    m(torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16), ids)
    w = m.last_weights
    batch_block, queue_block = w[:, :4], w[:, 4:]
    # in-batch: own key, plus 0<->2 gaze pair
    assert batch_block.tolist() == [[1, 0, 0, 1], [0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    # queue: rows anchor 0,3,5,2 against ids [-1,1,0,5,4,-1,2,3]
    assert queue_block.tolist() == [
        [0, 1, 1, 0, 0, 0, 1, 0],  # 0: gaze 1, itself, gaze 2
        [0, 0, 0, 0, 1, 0, 0, 1],  # 3: gaze 4, itself
        [0, 0, 0, 1, 0, 0, 0, 0],  # 5: only itself
        [0, 0, 1, 0, 0, 0, 1, 0],  # 2: gaze 0, itself
    ]


def test_moco_gaze_with_no_extra_positives_equals_infonce():
    m = _tiny(MoCo, PositiveLookup.from_pairs(PAIRS), queue_size=8, proj_dim=8, hidden_dim=8, in_batch_keys=False)
    x1, x2 = torch.randn(2, 1, 16, 16), torch.randn(2, 1, 16, 16)
    ids = torch.tensor([5, 1])  # 5 has no pair; 1's partner 0 is nowhere
    queue = m.queue.keys.clone()
    with torch.no_grad():
        q = F.normalize(m.projector(m.backbone(x1)), dim=1)
        k = F.normalize(m.key_projector(m.key_backbone(x2)), dim=1)
    ref = F.cross_entropy(torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / 0.2, torch.zeros(2, dtype=torch.long))
    torch.testing.assert_close(m(x1, x2, ids).loss, ref)


@pytest.mark.parametrize("cls,kind", [(BYOL, "byol"), (SimSiam, "simsiam")])
def test_byol_simsiam_masks_and_baseline(cls, kind):
    ids = torch.tensor([0, 1, 5, 2])
    x1, x2 = torch.randn(4, 1, 16, 16), torch.randn(4, 1, 16, 16)
    m = _tiny(cls, PositiveLookup.from_pairs(PAIRS), proj_dim=8, hidden_dim=8)
    out = m(x1, x2, ids)
    assert m.last_weights.tolist() == [[1, 1, 0, 1], [1, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]]
    assert out.n_gaze_positives.item() == 4
    base = _tiny(cls, None, proj_dim=8, hidden_dim=8)
    out = base(x1, x2, ids)
    assert base.last_weights.tolist() == torch.eye(4).tolist()
    # the baseline is the paper's symmetric loss
    with torch.no_grad():
        z1, z2 = base.projector(base.backbone(x1)), base.projector(base.backbone(x2))
        p1, p2 = base.predictor(z1), base.predictor(z2)
        if kind == "byol":
            t1 = base.target_projector(base.target_backbone(x1))
            t2 = base.target_projector(base.target_backbone(x2))
            ref = (2 - 2 * F.cosine_similarity(p1, t2)).mean() + (2 - 2 * F.cosine_similarity(p2, t1)).mean()
        else:
            ref = -0.5 * (F.cosine_similarity(p1, z2).mean() + F.cosine_similarity(p2, z1).mean())
    torch.testing.assert_close(out.loss, ref, rtol=1e-4, atol=1e-5)


def test_simclr_baseline_is_nt_xent_and_gaze_mask():
    x1, x2 = torch.randn(3, 1, 16, 16), torch.randn(3, 1, 16, 16)
    ids = torch.tensor([0, 1, 5])
    base = _tiny(SimCLR, None, proj_dim=8, hidden_dim=8, temperature=0.5)
    out = base(x1, x2, ids)
    with torch.no_grad():
        z = F.normalize(base.projector(base.backbone(torch.cat([x1, x2]))), dim=1)
    sim = (z @ z.T / 0.5).masked_fill(torch.eye(6, dtype=torch.bool), float("-inf"))
    ref = F.cross_entropy(sim, torch.tensor([3, 4, 5, 0, 1, 2]))
    torch.testing.assert_close(out.loss, ref, rtol=1e-4, atol=1e-5)
    g = _tiny(SimCLR, PositiveLookup.from_pairs(PAIRS), proj_dim=8, hidden_dim=8)
    out = g(x1, x2, ids)
    w = g.last_weights
    assert w.diagonal().sum() == 0  # never its own view
    # anchor view 0 (image 0): other view of 0 (col 3) plus both views of image 1 (cols 1, 4)
    assert w[0].tolist() == [0, 1, 0, 1, 1, 0]
    assert w[2].tolist() == [0, 0, 0, 0, 0, 1]
    assert out.n_gaze_positives.item() == 8  # 0<->1 on both views, both directions: 2 * 2 * 2
