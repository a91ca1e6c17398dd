"""Real-data study benchmark: our measures next to the reference packages', on studyforrest, in one run.

For every measure that a reference package also computes, this script scores all 1770 pairs of
the 60 studyforrest scanpaths with both, then prints retrieval top-1 and ROC-AUC of "same segment"
for each, the largest score difference, both times and the ratio. The metrics must agree where
the measure is the same.

References: multimatch-gaze 0.1.3 (`docomparison`, no grouping and with the MATLAB test's
grouping), OpenCV (`cv2.moments` / `cv2.HuMoments` / `cv2.matchShapes`; McGIP's official Hu score
written out with OpenCV calls), imagehash 4.3.2 (`dhash`, Hamming via `-`).

    .venv/bin/python benchmarks/bench_study.py            # full table
    .venv/bin/python benchmarks/bench_study.py --markdown # also print README rows
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def reference_multimatch(archive, grouping: dict | None) -> np.ndarray:
    import multimatch_gaze as mm

    n = len(archive)
    recs = [np.rec.fromarrays([s.x, s.y, s.duration], names="start_x,start_y,duration") for s in archive]
    out = np.full((n, n, 5), np.nan)
    kw = {} if grouping is None else dict(grouping=True, TDir=grouping["tdir"], TDur=grouping["tdur"], TAmp=grouping["tamp"])
    crashes = 0
    for i in range(n):
        for j in range(i + 1, n):
            try:
                out[i, j] = out[j, i] = mm.docomparison(recs[i], recs[j], screensize=[1280, 720], **kw)
            except (ValueError, IndexError):  # the reference's documented crashes (acos domain, simlen)
                crashes += 1
    if crashes:
        print(f"multimatch-gaze crashed on {crashes} of {n * (n - 1) // 2} pairs (grouping={grouping is not None}); "
              "those pairs are left out of its metrics and of the comparison")
    return out


def reference_hu(maps: np.ndarray, u8: np.ndarray) -> dict[str, np.ndarray]:
    import cv2

    n = len(maps)
    out = {}
    # McGIP official: 32x32 resize of the 8-bit map, (M00, Hu1), d = |a-b| / max(|a|, |b|), w = 0.5.
    feats = []
    for m in u8:
        small = cv2.resize(m, (32, 32))
        mo = cv2.moments(small)
        feats.append((mo["m00"], cv2.HuMoments(mo)[0, 0]))
    feats = np.asarray(feats)

    def d(a, b):
        den = np.maximum(np.abs(a[:, None]), np.abs(b[None, :]))
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.abs(a[:, None] - b[None, :]) / den
        return np.where(den > 0, r, 1.0)

    out["hu_mcgip"] = 1 - (0.5 * d(feats[:, 1], feats[:, 1]) + 0.5 * d(feats[:, 0], feats[:, 0]))
    m32 = [m.astype(np.float32) for m in maps]
    peak = [float(m.max()) for m in m32]
    m32 = [m / p if p > 0 else m for m, p in zip(m32, peak)]
    for k, method in enumerate((cv2.CONTOURS_MATCH_I1, cv2.CONTOURS_MATCH_I2, cv2.CONTOURS_MATCH_I3), start=1):
        dist = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                if i != j:
                    dist[i, j] = cv2.matchShapes(m32[i], m32[j], method, 0)
        if k == 3:
            dist = np.minimum(dist, dist.T)
        out[f"hu_I{k}"] = 1 / (1 + dist)
    return out


def reference_dhash(u8: np.ndarray) -> dict[str, np.ndarray]:
    import imagehash
    from PIL import Image

    hashes = [imagehash.dhash(Image.fromarray(m)) for m in u8]
    n = len(hashes)
    ham = np.array([[hashes[i] - hashes[j] for j in range(n)] for i in range(n)], dtype=np.float64)
    bits = np.stack([h.hash.ravel() for h in hashes]).astype(np.float64)
    pop = bits.sum(1)
    den = np.sqrt(np.outer(pop, pop))
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = np.where(den > 0, bits @ bits.T / den, 0.0)
    return {"dhash_hamming": 1 - ham / bits.shape[1], "dhash_cosine": cos}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--markdown", action="store_true", help="also print rows for benchmarks/README.md")
    args = ap.parse_args(argv)

    from mcgip_fast.data import load_studyforrest
    from mcgip_fast.report import study as st
    from mcgip_fast.similarity import dhash as dh

    archive = load_studyforrest()
    groups = np.asarray(archive.image_ids).astype(str)
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    maps = st.gaze_maps(archive)
    u8 = dh.to_uint8(maps, "max")

    ours: dict[str, tuple[np.ndarray, float]] = {}
    (mm, t) = _timed(lambda: st.multimatch_measures(archive))
    for m in mm:
        ours[m.name] = (m.scores, m.seconds)
    for m in st.hu_measures(maps) + st.dhash_measures(maps):
        ours[m.name] = (m.scores, m.seconds)

    ref: dict[str, tuple[np.ndarray, float]] = {}
    r, t_mm = _timed(lambda: reference_multimatch(archive, None))
    for k, d in enumerate(("vector", "direction", "length", "position", "duration")):
        ref[f"mm_{d}"] = (r[:, :, k], t_mm / 5)
    ref["mm_mean"] = (r.mean(2), 0.0)
    ref["mm_mcgip"] = (r @ np.asarray(st.MCGIP_MM_WEIGHTS), 0.0)
    rg, t_g = _timed(lambda: reference_multimatch(archive, st.GROUPING))
    ref["mm_grouped_mean"] = (rg.mean(2), t_g)
    hu_ref, t_hu = _timed(lambda: reference_hu(maps, u8))
    for k, v in hu_ref.items():
        ref[k] = (v, t_hu / len(hu_ref))
    dh_ref, t_dh = _timed(lambda: reference_dhash(u8))
    for k, v in dh_ref.items():
        ref[k] = (v, t_dh / len(dh_ref))

    n = len(archive)
    print(f"studyforrest: {n} scanpaths, {n * (n - 1) // 2} pairs, {threads} threads; top-1 chance {1 / (n - 1):.3f}")
    hdr = f"{'measure':<17} {'top-1 ours':>10} {'top-1 ref':>9} {'AUC ours':>9} {'AUC ref':>8} {'max |diff|':>11} {'ours (s)':>9} {'ref (s)':>8} {'speed-up':>9}"
    print(hdr)
    rows = []
    ok = True
    for name, (s_ours, t_ours) in ours.items():
        if name not in ref:
            continue
        s_ref, t_ref = ref[name]
        iu = np.triu_indices(n, 1)
        diff = float(np.nanmax(np.abs(s_ours[iu] - s_ref[iu])))
        # Where the reference crashed (NaN), score our matrix the same way so the metrics compare like with like.
        s_ours = np.where(np.isnan(s_ref), np.nan, s_ours)
        t1o, t1r = st.retrieval_top1(s_ours, groups), st.retrieval_top1(s_ref, groups)
        ao, ar = st.pair_auc(s_ours, groups), st.pair_auc(s_ref, groups)
        agree = abs(t1o - t1r) < 1e-9 and abs(ao - ar) < 1e-9
        ok &= agree
        ratio = t_ref / t_ours if t_ours > 0 else float("inf")
        print(f"{name:<17} {t1o:>10.3f} {t1r:>9.3f} {ao:>9.3f} {ar:>8.3f} {diff:>11.2e} {t_ours:>9.4f} {t_ref:>8.3f} {ratio:>8.0f}x"
              + ("" if agree else "  <-- metrics differ"))
        rows.append((name, t_ours, t_ref, ratio))
    print("metrics agree with the references for every shared measure" if ok else "SOME METRICS DIFFER")
    if args.markdown:
        groups_t = {
            "MultiMatch, 5 dims, all pairs (no grouping)": ("multimatch-gaze 0.1.3", t_mm, sum(ours[f"mm_{d}"][1] for d in ("vector", "direction", "length", "position", "duration"))),
            "MultiMatch, all pairs, grouping (TDir 45, TDur 0.3, TAmp 146.8)": ("multimatch-gaze 0.1.3", t_g, ours["mm_grouped_mean"][1]),
            "Hu: McGIP score + matchShapes I1-I3, all pairs": ("OpenCV 5", t_hu, sum(ours[k][1] for k in hu_ref)),
            "dHash of gaze maps + Hamming + bit cosine, all pairs": ("imagehash 4.3.2", t_dh, sum(ours[k][1] for k in dh_ref)),
        }
        for op, (refname, tr, to) in groups_t.items():
            print(f"| study: {op} | studyforrest, 60 scanpaths (1770 pairs) | {threads} | {refname} | {tr:.3f} s | {to:.4f} s | "
                  f"{tr / to:.0f}x | `.venv/bin/python benchmarks/bench_study.py` |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
