"""`mcgip inspect`: is this gaze worth using for McGIP pre-training?

Reads a gaze archive (and optional image labels) and reports, before any GPU time is spent:

1. **archive summary**: images, readers, scanpaths, fixations per scanpath, durations, and what
   validation dropped, clipped or flagged;
2. **reader agreement** (when two or more readers saw the same image): per scheme and MultiMatch
   dimension, the ROC-AUC of "same image, other reader" against "other image" pairs, and the top-1
   retrieval of another reader's reading of the query's image. High values mean gaze follows the
   image, not the reader;
3. **label agreement** (when labels exist for some images): per scheme, the AUC of same-label
   against other-label pairs of different images, and the precision of the positives that the
   mining rule selects, against chance;
4. **a verdict per scheme**: informative / weak / uninformative (thresholds below);
5. **reader habits** (when readers are known and MultiMatch is inspected): per MultiMatch dimension, how
   much more alike two scanpaths by the same reader of different images are than two by different
   readers (`mcgip_fast.mining.schemes.reader_weights`), and the weights `mcgip mine --weights
   reader-invariant` would use. A dimension with a large effect mostly says who read the image.

Everything runs on sampled pairs (never N x N), stated in the report; the metrics come from
`mcgip_fast.report.agreement`, the scores from the mining schemes (`mcgip_fast.mining.schemes`),
so the numbers describe exactly what `mcgip mine` would score.

Verdict thresholds, from the demo (`benchmarks/README.md`, "How the demo's recipe was found"):
mined positives with precision 0.64 (2.6x chance; union top-100: 0.56, 2.25x) gave a large
pre-training gain (+0.17 linear probe), while positives mined from uninformative gaze (precision at
chance, 1.0x) gave none (+0.01). So with labels, a lift (mined precision / chance) of at least
`LIFT_INFORMATIVE` = 2.0 is *informative*, below `LIFT_WEAK` = 1.2 *uninformative*, and between
them *weak* (the demo's Hu and dHash positives, 1.55x and 1.19x, were never shown to help).
Without labels, reader agreement decides, on thresholds no training run has calibrated (stated as
such in the report): pair AUC >= 0.75 informative, < 0.6 uninformative.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mcgip_fast.mining.aggregate import resolve_aggregate
from mcgip_fast.report.agreement import (
    PairSample,
    auc,
    retrieval_sample,
    sample_group_pairs,
    top1_on_sample,
)

#: Mined precision / chance at or above which a scheme is "informative" (demo: 2.25x and 2.6x gave gains).
LIFT_INFORMATIVE = 2.0
#: Mined precision / chance below which a scheme is "uninformative" (demo: 1.0x gave no gain).
LIFT_WEAK = 1.2
#: Reader-agreement pair AUC thresholds, used only without labels (conventions, not calibrated).
READER_AUC_INFORMATIVE = 0.75
READER_AUC_WEAK = 0.6

SCHEMES = ("multimatch", "hu", "dhash")
MM_DIMENSIONS = ("vector", "direction", "length", "position", "duration")


@dataclass
class InspectOptions:
    """How much `run_inspect` samples and how it mines (defaults: seconds on 10k scanpaths)."""

    schemes: tuple[str, ...] = SCHEMES
    max_positive_pairs: int = 20_000  # same-group pairs scored per section
    max_negative_pairs: int = 20_000  # different-group pairs scored per section
    queries: int = 500  # top-1 queries
    gallery: int = 99  # random other-image candidates per top-1 query
    rule: str = "mutual"  # mining rule for the mined-precision check
    k: int | None = None  # default: an eighth of the mined items (readings), as the demo's mutual top-100 of 800
    mine_max_items: int = 2_000  # mined-precision check on at most this many readings (whole images)
    seed: int = 0
    threads: int | None = None
    progress: bool = True


# --------------------------------------------------------------------------- input
def read_labels(path: str | Path, archive_ids: np.ndarray, id_col: str = "image_id", label_col: str | None = None) -> tuple[dict[str, str], list[str]]:
    """Image labels from a CSV/TSV/Parquet table: {image id: label} and notes.

    Ids are read as strings (``001`` stays ``001``). The label column is `label_col`, or the
    table's only column besides `id_col`. Raises a ValueError naming the file, row and id for a
    missing column, an empty or duplicated id, or an id that is not in the archive."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such labels file")
    if path.suffix == ".parquet":
        table = pd.read_parquet(path).astype(str)
    else:
        table = pd.read_csv(path, sep="\t" if path.suffix == ".tsv" else ",", dtype=str, keep_default_na=False)
    if id_col not in table.columns:
        raise ValueError(f"{path}: no id column {id_col!r} (columns: {', '.join(table.columns)}); pass --labels-id-col")
    if label_col is None:
        rest = [c for c in table.columns if c != id_col]
        if len(rest) != 1:
            raise ValueError(f"{path}: which column is the label? pass --label-col (columns besides {id_col!r}: {', '.join(rest)})")
        label_col = rest[0]
    elif label_col not in table.columns:
        raise ValueError(f"{path}: no label column {label_col!r} (columns: {', '.join(table.columns)})")
    ids = [str(i) for i in table[id_col].astype(str).str.strip()]
    labels = [str(v) for v in table[label_col].astype(str).str.strip()]
    for k, (i, lab) in enumerate(zip(ids, labels)):
        if not i or not lab:
            raise ValueError(f"{path} row {k + 2}: empty {'image id' if not i else 'label'} (id {i!r})")
    seen: dict[str, int] = {}
    for k, i in enumerate(ids):
        if i in seen:
            raise ValueError(f"{path} rows {seen[i] + 2} and {k + 2}: image id {i!r} labelled twice")
        seen[i] = k
    notes = []
    known = set(np.asarray(archive_ids).astype(str))
    unknown = [k for k, i in enumerate(ids) if i not in known]
    if unknown:
        k = unknown[0]
        raise ValueError(f"{path} row {k + 2}: image id {ids[k]!r} is not in the gaze archive "
                         f"({len(unknown)} of {len(ids)} label rows have unknown ids)")
    return dict(zip(ids, labels)), notes


# --------------------------------------------------------------------------- scores on pairs
class SchemeScorer:
    """Scores pairs of one archive with the mining schemes (`mcgip mine --scheme S` with its
    defaults), preparing each scheme once (heatmaps, features) however many pair sets are scored."""

    def __init__(self, archive, threads: int | None = None) -> None:
        self.archive = archive
        self.threads = threads
        self._prepared: dict[str, tuple[Any, Any]] = {}

    def _scheme(self, scheme: str):
        if scheme not in self._prepared:
            from mcgip_fast.mining.schemes import make_scheme

            sch = make_scheme(scheme)
            sch.bind(self.archive)
            self._prepared[scheme] = (sch, sch.prepare(self.archive))
        return self._prepared[scheme]

    def __call__(self, scheme: str, i: np.ndarray, j: np.ndarray) -> dict[str, np.ndarray]:
        """{measure: similarities of the pairs (i[k], j[k])}: the scheme's score, and for
        multimatch also each of the five dimensions (``multimatch.position``, ...)."""
        sch, state = self._scheme(scheme)
        i = np.ascontiguousarray(i, dtype=np.int64)
        j = np.ascontiguousarray(j, dtype=np.int64)
        out = {scheme: np.asarray(sch.score_pairs(state, i, j, threads=self.threads), dtype=np.float64)}
        if scheme == "multimatch":
            from mcgip_fast.similarity.multimatch import multimatch_pairs

            dims = multimatch_pairs(self.archive, np.stack([i, j], axis=1), screen=sch.screen, threads=self.threads)
            for k, d in enumerate(MM_DIMENSIONS):
                out[f"multimatch.{d}"] = dims[:, k]
        return out


# --------------------------------------------------------------------------- sections
def archive_summary(archive) -> dict[str, Any]:
    lengths = np.diff(archive.offsets)
    per_image = np.unique(archive.image_ids, return_counts=True)[1]
    totals = np.add.reduceat(archive.duration, archive.offsets[:-1]) if len(archive.duration) else np.zeros(0)
    totals[lengths == 0] = 0.0
    rep = archive.report

    def stats(v):
        v = np.asarray(v, dtype=np.float64)
        return {"min": float(v.min()), "median": float(np.median(v)), "mean": float(v.mean()), "max": float(v.max())} if len(v) else {}

    def hist(v, bins=30):
        counts, edges = np.histogram(np.asarray(v, dtype=np.float64), bins=bins)
        return {"counts": counts.tolist(), "edges": edges.tolist()}

    return {
        "scanpaths": int(len(archive)),
        "images": int(len(per_image)),
        "readers": None if archive.readers is None else int(len(np.unique(archive.readers))),
        "fixations": int(lengths.sum()),
        "screen": None if archive.screen is None else list(archive.screen),
        "scanpaths_per_image": stats(per_image),
        "fixations_per_scanpath": stats(lengths),
        "fixation_duration_s": stats(archive.duration),
        "scanpath_duration_s": stats(totals),
        "validation": {
            "dropped_fixations": len(rep.dropped_fixations),
            "clipped_fixations": len(rep.clipped_fixations),
            "dropped_scanpaths": len(rep.dropped_scanpaths),
            "short_scanpaths": len(rep.short_scanpaths),
            "summary": rep.summary(),
            "examples": (rep.dropped_fixations + rep.clipped_fixations + rep.dropped_scanpaths + rep.short_scanpaths)[:5],
            "notes": list(rep.notes),
        },
        "histograms": {"fixations per scanpath": hist(lengths), "fixation duration (s)": hist(archive.duration),
                       "scanpaths per image": hist(per_image, bins=min(30, max(1, int(per_image.max())))) if len(per_image) else hist([])},
    }


def _agreement_rows(score: SchemeScorer, groups: np.ndarray, sample: PairSample, opts: InspectOptions, bar,
                    with_top1: bool) -> list[dict]:
    """Pair AUC (and sampled top-1) of every scheme's measures against `groups` on `sample`
    (indices into the scorer's archive)."""
    rows = []
    retrieval = retrieval_sample(groups, opts.queries, opts.gallery, opts.seed) if with_top1 else None
    n = len(sample.i)
    for scheme in opts.schemes:
        i, j = sample.i, sample.j
        if retrieval is not None:  # one call for both pair sets
            i, j = np.concatenate([i, retrieval.i]), np.concatenate([j, retrieval.j])
        scores = score(scheme, i, j)
        for name, s in scores.items():
            row = {"scheme": scheme, "measure": name, "auc": auc(s[:n], sample.positive),
                   "nan_pairs": int((~np.isfinite(s[:n])).sum())}
            if retrieval is not None:
                row["top1"], row["top1_chance"] = top1_on_sample(retrieval, s[n:])
                row["top1_queries"] = retrieval.n_queries
            rows.append(row)
        bar.update(1)
    return rows


def reader_agreement(archive, score: SchemeScorer, opts: InspectOptions, bar) -> dict[str, Any] | None:
    groups = np.asarray(archive.image_ids).astype(str)
    sizes = np.unique(groups, return_counts=True)[1]
    if not (sizes > 1).any():
        return None
    sample = sample_group_pairs(groups, opts.max_positive_pairs, opts.max_negative_pairs, opts.seed)
    rows = _agreement_rows(score, groups, sample, opts, bar, with_top1=True)
    return {"images_with_several_readers": int((sizes > 1).sum()), "pairs": sample.describe(), "rows": rows,
            "top1_sample": f"up to {opts.queries} random queries, each against its image's other readings and "
                           f"{opts.gallery} random readings of other images (seed {opts.seed})"}


def label_agreement(archive, labels: dict[str, str], score: SchemeScorer, opts: InspectOptions, bar) -> dict[str, Any] | None:
    ids = np.asarray(archive.image_ids).astype(str)
    have = np.array([i in labels for i in ids])
    if have.sum() < 2:
        return None
    labelled = np.flatnonzero(have)
    sub_ids = ids[have]
    lab = np.array([labels[i] for i in sub_ids])
    sample = sample_group_pairs(lab, opts.max_positive_pairs, opts.max_negative_pairs, opts.seed)
    other_image = sub_ids[sample.i] != sub_ids[sample.j]  # another reader of the same image says nothing about labels
    per_image = np.unique(sub_ids, return_counts=True)[1].astype(np.int64)
    same_image_pairs = int((per_image * (per_image - 1) // 2).sum())
    # pairs as indices into the whole archive, so the scorer's prepared schemes are reused
    sample = PairSample(labelled[sample.i[other_image]], labelled[sample.j[other_image]], sample.positive[other_image],
                        sample.positive_total - same_image_pairs, sample.negative_total, sample.seed)
    rows = _agreement_rows(score, lab, sample, opts, bar, with_top1=False)
    sub = archive.subset(labelled) if len(labelled) < len(archive) else archive
    mined = {}
    for s in opts.schemes:
        mined[s] = mined_precision(sub, sub_ids, lab, s, opts)
        bar.update(1)
    counts = {str(k): int(v) for k, v in zip(*np.unique([labels[i] for i in np.unique(sub_ids)], return_counts=True))}
    return {"labelled_images": int(len(np.unique(sub_ids))), "labelled_scanpaths": int(have.sum()),
            "label_counts": counts, "pairs": sample.describe() + "; pairs of two readings of the same image left out",
            "rows": rows, "mined": mined}


#: How the mined-precision check mines: as `mcgip mine` does by default ("auto": image-level pairs
#: aggregated over readers when readers overlap, one item per reading when there are no readers).
MINE_AGGREGATE = "auto"


def _mine_image_pairs(archive, scheme: str, rule: str, k: int, opts: InspectOptions) -> tuple[np.ndarray, np.ndarray, str]:
    """Positives mined by `mcgip_fast.mining.mine`, as pairs of *image ids*, plus the level mined at.

    Works on the pair file's item keys, so reading-level pairs (keys ``image|reader``) and
    image-level pairs (keys = image ids) are handled alike."""
    from mcgip_fast.mining import mine

    mode = resolve_aggregate(archive, MINE_AGGREGATE)
    pairs = mine(archive, scheme, rule, k=k, threads=opts.threads, aggregate=mode)
    level = "reading level (a reading's label is its image's)" if mode == "none" else f"image level ({mode} aggregation)"
    keys = np.asarray(pairs.ids).astype(str)
    image_of = dict(zip(np.asarray(archive.keys).astype(str), np.asarray(archive.image_ids).astype(str)))
    image_of.update({i: i for i in np.asarray(archive.image_ids).astype(str)})
    a, b, _ = pairs.edges()
    keep = a < b if pairs.symmetric else np.ones(len(a), bool)
    ia = np.array([image_of[x] for x in keys[a[keep]]])
    ib = np.array([image_of[x] for x in keys[b[keep]]])
    return ia, ib, level


def mined_precision(archive, image_ids: np.ndarray, labels: np.ndarray, scheme: str, opts: InspectOptions) -> dict[str, Any]:
    """Precision of the mined positives between different images (same label), against chance."""
    rng = np.random.default_rng(opts.seed)
    images = np.unique(image_ids)
    note = None
    if len(image_ids) > opts.mine_max_items:
        per_image = len(image_ids) / len(images)
        n_img = max(2, int(opts.mine_max_items // per_image))
        pick = np.sort(rng.choice(images, size=min(n_img, len(images)), replace=False))
        member = np.isin(image_ids, pick)
        archive, image_ids, labels = archive.subset(np.flatnonzero(member)), image_ids[member], labels[member]
        note = f"mined on {len(pick)} random images ({member.sum()} readings) of {len(images)} (seed {opts.seed})"
    n_items = len(image_ids) if resolve_aggregate(archive, MINE_AGGREGATE) == "none" else len(np.unique(image_ids))
    k = opts.k if opts.k is not None else max(1, int(round(n_items / 8)))
    t0 = time.perf_counter()
    ia, ib, level = _mine_image_pairs(archive, scheme, opts.rule, k, opts)
    seconds = time.perf_counter() - t0
    label_of = dict(zip(image_ids, labels))
    cross = ia != ib
    same = np.array([label_of[x] == label_of[y] for x, y in zip(ia[cross], ib[cross])], dtype=bool)
    chance = _chance_same_label(image_ids, labels)
    precision = float(same.mean()) if len(same) else float("nan")
    return {"rule": f"{opts.rule} top-{k}", "level": level, "pairs_between_images": int(cross.sum()),
            "pairs_same_image": int((~cross).sum()), "precision": precision, "chance": chance,
            "lift": precision / chance if chance > 0 else float("nan"), "sample": note, "seconds": seconds}


def _chance_same_label(image_ids: np.ndarray, labels: np.ndarray) -> float:
    """P(same label) for two random readings of different images."""
    _, per_image = np.unique(image_ids, return_counts=True)
    _, per_label = np.unique(labels, return_counts=True)
    pairs_diff_image = len(image_ids) ** 2 - float((per_image.astype(np.float64) ** 2).sum())
    pairs_same_label_diff_image = float((per_label.astype(np.float64) ** 2).sum()) - float((per_image.astype(np.float64) ** 2).sum())
    return pairs_same_label_diff_image / pairs_diff_image if pairs_diff_image > 0 else float("nan")


def verdicts(reader: dict | None, label: dict | None, schemes: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    out = {}
    for s in schemes:
        if label is not None:
            m = label["mined"][s]
            lift = m["lift"]
            v = "informative" if lift >= LIFT_INFORMATIVE else "weak" if lift >= LIFT_WEAK else "uninformative"
            why = (f"mined precision {m['precision']:.3f} = {lift:.2f}x chance {m['chance']:.3f} "
                   f"(informative >= {LIFT_INFORMATIVE}x, uninformative < {LIFT_WEAK}x)")
            if not math.isfinite(lift):
                why = f"the rule ({m['rule']}) mined no positives between different images, so gaze gives no positives to train on"
            out[s] = {"verdict": v, "by": "labels", "lift": lift, "precision": m["precision"], "chance": m["chance"], "why": why}
        elif reader is not None:
            a = next(r["auc"] for r in reader["rows"] if r["measure"] == s)
            v = "informative" if a >= READER_AUC_INFORMATIVE else "weak" if a >= READER_AUC_WEAK else "uninformative"
            out[s] = {"verdict": v, "by": "reader agreement", "auc": a,
                      "why": f"same-image pair AUC {a:.3f} (informative >= {READER_AUC_INFORMATIVE}, uninformative < "
                             f"{READER_AUC_WEAK}; conventions: no training run calibrates them, labels would)"}
        else:
            out[s] = {"verdict": "unknown", "by": None, "why": "no labels and no image read by two readers: nothing to check gaze against"}
    return out


# --------------------------------------------------------------------------- run and write
@dataclass
class InspectResult:
    source: str
    summary: dict[str, Any]
    reader: dict[str, Any] | None
    label: dict[str, Any] | None
    verdicts: dict[str, dict[str, Any]]
    options: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    reader_habits: dict[str, Any] | None = None

    def to_json(self) -> str:
        """Strict JSON: NaN (a metric that could not be computed) is written as null."""
        return json.dumps(_nan_to_none(asdict(self)), indent=2, default=_json_default, allow_nan=False)


def _nan_to_none(o):
    if isinstance(o, dict):
        return {k: _nan_to_none(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_nan_to_none(v) for v in o]
    if isinstance(o, (float, np.floating)) and not math.isfinite(float(o)):
        return None
    return o


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return None if not math.isfinite(float(o)) else float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def reader_habits(archive, score: SchemeScorer, opts: InspectOptions, notes: list[str]) -> dict[str, Any] | None:
    """The reader-invariant weight fit's numbers (None without readers or without MultiMatch)."""
    if getattr(archive, "readers", None) is None or "multimatch" not in opts.schemes:
        return None
    from mcgip_fast.mining.schemes.reader_weights import fit_reader_invariant_weights

    sch, _ = score._scheme("multimatch")
    try:
        fit = fit_reader_invariant_weights(sch, archive, seed=opts.seed, threads=opts.threads)
    except ValueError as e:
        notes.append(f"reader habits not measured: {e}")
        return None
    return {"dimensions": list(MM_DIMENSIONS), "weights": list(fit.weights), **fit.params()}


def run_inspect(archive, labels: dict[str, str] | None = None, options: InspectOptions | None = None,
                source: str = "archive", notes: list[str] | None = None) -> InspectResult:
    """Summary, reader agreement, label agreement and verdicts for `archive` (see the module doc)."""
    from tqdm.auto import tqdm

    opts = options or InspectOptions()
    unknown = [s for s in opts.schemes if s not in SCHEMES]
    if unknown:
        raise ValueError(f"unknown scheme(s) {unknown}; choose from {', '.join(SCHEMES)}")
    t0 = time.perf_counter()
    steps = len(opts.schemes) * (1 + (2 if labels else 0))
    with tqdm(total=steps, desc="mcgip inspect", unit="step", disable=not opts.progress) as bar:
        summary = archive_summary(archive)
        score = SchemeScorer(archive, opts.threads)
        reader = reader_agreement(archive, score, opts, bar)
        label = label_agreement(archive, labels, score, opts, bar) if labels else None
    result = InspectResult(source, summary, reader, label, verdicts(reader, label, opts.schemes),
                           asdict(opts), list(notes or []))
    result.reader_habits = reader_habits(archive, score, opts, result.notes)
    result.seconds = time.perf_counter() - t0
    return result


def write_report(result: InspectResult, out: str | Path) -> dict[str, Path]:
    """inspect.md, inspect.json and one PNG per section under `out`."""
    from mcgip_fast.report import inspect_plots as plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figs = {"summary": plots.plot_summary(result, out / "summary.png")}
    if result.reader:
        figs["reader"] = plots.plot_agreement(result.reader["rows"], out / "reader_agreement.png",
                                              "Reader agreement: same image (other reader) vs other image", top1=True)
    if result.label:
        figs["label"] = plots.plot_agreement(result.label["rows"], out / "label_agreement.png",
                                             "Label agreement: same label vs other label (different images)", top1=False)
        figs["mined"] = plots.plot_mined(result.label["mined"], out / "mined_precision.png")
    (out / "inspect.json").write_text(result.to_json() + "\n")
    (out / "inspect.md").write_text(to_markdown(result, {k: v.name for k, v in figs.items()}) + "\n")
    return {"markdown": out / "inspect.md", "json": out / "inspect.json", **figs}


def _fmt_stats(d: dict) -> str:
    return f"min {d['min']:.3g}, median {d['median']:.3g}, mean {d['mean']:.3g}, max {d['max']:.3g}" if d else "-"


def to_markdown(r: InspectResult, figs: dict[str, str]) -> str:
    s = r.summary
    L = [f"# mcgip inspect: {r.source}", "",
         "Verdicts (is this gaze worth using for McGIP positives?):", ""]
    for scheme, v in r.verdicts.items():
        L.append(f"- **{scheme}: {v['verdict']}** ({v['by'] or 'no evidence'}): {v['why']}")
    L += ["", f"Thresholds: with labels, mined precision / chance >= {LIFT_INFORMATIVE} is informative and < {LIFT_WEAK} "
          "uninformative (the demo: 2.6x chance gave +0.17 linear-probe accuracy, chance precision gave none); without "
          f"labels, reader-agreement AUC >= {READER_AUC_INFORMATIVE} / < {READER_AUC_WEAK} (uncalibrated conventions).",
          "", "## 1. Archive", "",
          f"- scanpaths: {s['scanpaths']:,}; images: {s['images']:,}; readers: {s['readers'] if s['readers'] is not None else 'one per image (no reader column)'}; fixations: {s['fixations']:,}",
          f"- scanpaths per image: {_fmt_stats(s['scanpaths_per_image'])}",
          f"- fixations per scanpath: {_fmt_stats(s['fixations_per_scanpath'])}",
          f"- fixation duration (s): {_fmt_stats(s['fixation_duration_s'])}",
          f"- scanpath duration (s): {_fmt_stats(s['scanpath_duration_s'])}",
          f"- validation: {s['validation']['summary']}"]
    L += [f"  - e.g. {e}" for e in s["validation"]["examples"]]
    L += [f"- note: {n}" for n in s["validation"]["notes"] + r.notes]
    L += ["", f"![archive]({figs['summary']})", "", "## 2. Reader agreement", ""]
    if r.reader is None:
        L.append("No image was read by two or more readers: reader agreement cannot be measured.")
    else:
        rd = r.reader
        L += [f"{rd['images_with_several_readers']:,} images have several readings. Pairs scored: {rd['pairs']}. "
              f"Top-1: {rd['top1_sample']}.", "",
              "| scheme | measure | AUC same image vs other image | top-1 | top-1 chance |", "| --- | --- | --- | --- | --- |"]
        for row in rd["rows"]:
            L.append(f"| {row['scheme']} | {row['measure']} | {row['auc']:.3f} | {row['top1']:.3f} | {row['top1_chance']:.3f} |")
        L += ["", f"![reader agreement]({figs['reader']})"]
    L += ["", "### Reader habits", ""]
    h = r.reader_habits
    if h is None:
        L.append("Not measured (needs reader ids and the multimatch scheme).")
    else:
        L += [f"Same-reader pairs ({h['same_reader_pairs']:,}) against cross-reader pairs ({h['cross_reader_pairs']:,}) of "
              f"scanpaths of different images, {h['readers']} readers: the reader effect is the difference of their mean "
              "similarity in standard deviations. A dimension with a large effect mostly says who read the image; "
              "`mcgip mine --weights reader-invariant` weighs each dimension by 1 / (0.05 + effect).", "",
              "| MultiMatch dimension | reader effect | reader-invariant weight |", "| --- | --- | --- |"]
        for d, e, w in zip(h["dimensions"], h["reader_effects"], h["weights"]):
            L.append(f"| {d} | {e:.2f} | {w:.3f} |")
    L += ["", "## 3. Label agreement", ""]
    if r.label is None:
        L.append("No labels given (--labels): label agreement and the mined-precision check are skipped.")
    else:
        lb = r.label
        L += [f"{lb['labelled_images']:,} labelled images ({lb['labelled_scanpaths']:,} scanpaths); labels: "
              + ", ".join(f"{k}: {v}" for k, v in lb["label_counts"].items()) + f". Pairs scored: {lb['pairs']}.", "",
              "| scheme | measure | AUC same label vs other label |", "| --- | --- | --- |"]
        for row in lb["rows"]:
            L.append(f"| {row['scheme']} | {row['measure']} | {row['auc']:.3f} |")
        L += ["", "Mined positives (`mcgip_fast.mining.mine`, the scheme's defaults):", "",
              "| scheme | rule | level | pairs between images | precision | chance | lift | sample |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for scheme, m in lb["mined"].items():
            L.append(f"| {scheme} | {m['rule']} | {m['level']} | {m['pairs_between_images']:,} | {m['precision']:.3f} | "
                     f"{m['chance']:.3f} | {m['lift']:.2f}x | {m['sample'] or 'all labelled readings'} |")
        L += ["", f"![label agreement]({figs['label']})", "", f"![mined precision]({figs['mined']})"]
    L += ["", f"Time: {r.seconds:.1f} s."]
    return "\n".join(L)
