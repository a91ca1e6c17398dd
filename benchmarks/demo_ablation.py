"""One MoCo v2 pre-training run of the demo's ablation, with probes; appends a line to a results file.

The demo's training recipe (resnet10, 'small-pool' stem, global max pooling, McGIP's batch-averaged
loss over the top-100 MultiMatch neighbours, 40 epochs, Adam 3e-3) was found with runs like these;
benchmarks/README.md lists them. Each run takes one to three minutes on one core.

    python benchmarks/demo_ablation.py NAME kind=baseline|mcgip|shuffled|oracle [archive=mammo|chest] [info=0.0] [k=100] [TrainConfig option=value ...]

kind=mcgip mines MultiMatch positives (mm_weights=mcgip|equal|reader-invariant|w1,...,w5) with the demo's rule (rule=topk: the top-k union) from the archive's gaze (info=0.0: from the
uninformative twin, the same images); kind=shuffled trains on those mined pairs after a degree-preserving shuffle
(shuffle_seed=S, default 0); kind=oracle takes k same-class partners from the labels. archive=chest uses the
second generator (synth/chest.py) instead of the demo's (mammo); contrast=LO,HI and noise=S change its images. The gaze batch sampler: batch_sampler=gaze
positives_per_anchor=M.
Output: linear / kNN@20 probe accuracy, mean ± std over evaluation splits 0, 1, 2.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

import numpy as np


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    import torch

    torch.set_num_threads(int(os.environ.get("THREADS", "1")))
    from mcgip_fast.cli.demo import parse_value
    from mcgip_fast.eval import evaluate_encoder
    from mcgip_fast.mining.schemes.multimatch import MCGIP_WEIGHTS
    from mcgip_fast.report.demo import DemoConfig
    from mcgip_fast.synth import GENERATORS
    from mcgip_fast.train import TrainConfig, train

    name, opts = argv[0], dict(a.split("=", 1) for a in argv[1:])
    work = Path(opts.pop("work", "/tmp/mcgip_ablation"))
    img, n, info = int(opts.pop("img", 64)), int(opts.pop("n", 800)), float(opts.pop("info", 0.9))
    demo = DemoConfig()  # the defaults are the demo's recipe, read from its one definition
    kind, k, rule = opts.pop("kind", "baseline"), int(opts.pop("k", demo.k)), opts.pop("rule", demo.rule)
    generator = opts.pop("archive", "mammo")
    shuffle_seed = int(opts.pop("shuffle_seed", 0))
    # MultiMatch weights for mining: "mcgip" (0.1, 0.1, 0.1, 0.1, 0.6) or "equal" (0.2 each)
    mm_weights = opts.pop("mm_weights", "mcgip")
    # or "reader-invariant" (fitted from the archive's reader ids, `mcgip_fast.mining.schemes.reader_weights`)
    named = {"mcgip": MCGIP_WEIGHTS, "equal": (0.2,) * 5, "reader-invariant": "reader-invariant"}
    weights = named[mm_weights] if mm_weights in named else tuple(float(v) for v in mm_weights.split(","))
    config_class, generate = GENERATORS[generator]
    # image difficulty: contrast=LO,HI (finding contrast in background spreads) and noise=S; default the generator's
    look = {}
    if "contrast" in opts:
        look["contrast_range"] = tuple(float(v) for v in opts.pop("contrast").split(","))
    if "noise" in opts:
        look["noise"] = float(opts.pop("noise"))
    root = work / (f"archive_{img}_{n}_{info:g}" + ("" if generator == "mammo" else f"_{generator}")
                   + "".join(f"_{key}{'-'.join(f'{v:g}' for v in np.atleast_1d(val))}" for key, val in sorted(look.items())))
    # runs started side by side must not generate or mine the same files at once
    work.mkdir(parents=True, exist_ok=True)
    with open(work / ".prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        arch, labels, pairs_path = _prepare(root, generate, config_class, n, img, info, look, kind, k, rule, mm_weights,
                                            weights, opts, shuffle_seed)
    options = dict(image_size=img, backbone=demo.backbone, stem=demo.stem, pool=demo.pool, loss_average=demo.loss_average,
                   width=demo.width, epochs=demo.epochs, batch_size=demo.batch_size, queue_size=demo.queue_size,
                   optimizer=demo.optimizer, lr=demo.lr, crop_min_scale=demo.crop_min_scale, momentum=demo.moco_momentum,
                   method="moco", seed=demo.pretrain_seeds[0])
    options.update({key: parse_value(v) for key, v in opts.items()})
    t0 = time.perf_counter()
    res = train(TrainConfig(manifest=str(arch.manifest_path), pairs=str(pairs_path) if pairs_path else None,
                            gaze=pairs_path is not None and kind != "baseline", device="cpu", out_dir=str(work / "runs" / name), progress=False,
                            checkpoint_every=10**9, **options))
    seconds = time.perf_counter() - t0
    lin, knn = [], []
    for s in (0, 1, 2):
        df = evaluate_encoder(res.encoder_path, arch.manifest_path, labels=arch.labels_path, probes=("linear", "knn"),
                              seeds=(s,), split_seed=s, image_size=options["image_size"], knn_k=(20,), device="cpu")
        acc = df.set_index("probe")["accuracy"]
        lin.append(acc["linear"])
        knn.append(acc["knn@20"])
    line = (f"{name}: archive={generator}{''.join(f' {key}={val}' for key, val in look.items())} kind={kind} info={info:g} rule={rule} k={k} mm_weights={mm_weights} {opts} linear {np.mean(lin):.3f}±{np.std(lin, ddof=1):.3f} "
            f"knn {np.mean(knn):.3f}±{np.std(knn, ddof=1):.3f} train {seconds:.0f}s on {torch.get_num_threads()} thread(s)")
    print(line)
    with open(work / "results.txt", "a") as f:
        f.write(line + "\n")
    return 0


def _prepare(root, generate, config_class, n, img, info, look, kind, k, rule, mm_weights, weights, opts, shuffle_seed):
    """The archive, its labels and the pairs file the run trains on (generated or mined on first use)."""
    from mcgip_fast.mining import PositivePairs, mine
    from mcgip_fast.mining.controls import shuffle_positives
    from mcgip_fast.report.demo import oracle_pairs, pair_precision
    from mcgip_fast.synth import SynthArchive

    arch = SynthArchive.open(root) if (root / "meta.json").exists() else generate(
        root, config_class(n_images=n, size=img, informativeness=info, seed=0, **look), overwrite=True)
    labels = arch.labels()["label"].to_numpy()
    pairs_path = None
    # a baseline with the gaze batch sampler reads the mined graph for its batches only (gaze=False)
    if kind in ("mcgip", "shuffled") or (kind == "baseline" and opts.get("batch_sampler") == "gaze"):
        pairs_path = root / (f"pairs_multimatch_{rule}{k}" + ("" if mm_weights == "mcgip" else f"_{mm_weights}") + ".npz")
        if not pairs_path.exists():
            # the fit needs each reading's reader; one reading per image, so "all-pairs" is the plain score
            gaze, aggregate = (arch.gaze(with_readers=True), "all-pairs") if weights == "reader-invariant" else (arch.gaze(), "auto")
            pairs = mine(gaze, "multimatch", rule, k=k, scheme_options={"weights": weights}, aggregate=aggregate)
            if "weight_fit" in pairs.params:
                print("fitted weights", pairs.params["weights"])
            pairs.save(pairs_path)
            print("pair precision", pair_precision(pairs, labels))
        if kind == "shuffled":
            shuffled = shuffle_positives(PositivePairs.load(pairs_path), seed=shuffle_seed)
            print("shuffled pair precision", pair_precision(shuffled, labels))
            pairs_path = shuffled.save(pairs_path.with_name(pairs_path.stem + f"_shuffled{shuffle_seed}.npz"))
    elif kind == "oracle":
        pairs_path = oracle_pairs(arch.manifest()["image_id"].to_numpy(), labels, k, 0).save(root / f"oracle_{k}.npz")
    elif kind != "baseline":
        raise SystemExit(f"kind must be baseline, mcgip, shuffled or oracle, got {kind!r}")
    return arch, labels, pairs_path


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
