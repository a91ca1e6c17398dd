"""MultiMatch weights="reader-invariant": fitted from reader ids alone, so that dimensions driven by a
reader's habits get little weight (issue 12, the chest archive's reader-habit-dominated gaze)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mcgip_fast.cli.main import main
from mcgip_fast.data import load_studyforrest
from mcgip_fast.gaze import GazeArchive
from mcgip_fast.mining import PositivePairs, mine
from mcgip_fast.mining.schemes.multimatch import MCGIP_WEIGHTS, MultiMatchScheme
from mcgip_fast.mining.schemes.reader_weights import FLOOR


def _habit_archive(seed: int = 0, n_images: int = 60, n_readers: int = 4) -> GazeArchive:
    """Readers differ only in pace (each has their own fixation duration); where they look follows the image."""
    rng = np.random.default_rng(seed)
    pace = np.linspace(0.15, 0.9, n_readers)
    ids, readers, xs, ys, ds, offsets = [], [], [], [], [], [0]
    for img in range(n_images):
        centre = rng.uniform(100, 900, 2)
        r = img % n_readers
        n = int(rng.integers(8, 14))
        xs.append(np.clip(centre[0] + rng.normal(0, 120, n), 0, 1000))
        ys.append(np.clip(centre[1] + rng.normal(0, 120, n), 0, 1000))
        ds.append(pace[r] * rng.uniform(0.9, 1.1, n))
        ids.append(f"img{img}")
        readers.append(f"r{r}")
        offsets.append(offsets[-1] + n)
    return GazeArchive.from_arrays(ids, np.array(offsets), np.concatenate(xs), np.concatenate(ys), np.concatenate(ds),
                                   readers=readers, screen=(1000.0, 1000.0))


def _fit(archive, **options):
    scheme = MultiMatchScheme(weights="reader-invariant", **options)
    scheme.bind(archive)
    return scheme


def test_the_dimension_a_reader_habit_drives_gets_the_least_weight():
    s = _fit(_habit_archive())
    w, effects = np.array(s.weights), np.array(s.weight_fit.reader_effects)
    assert w.sum() == pytest.approx(1.0)
    assert effects.argmax() == 4 and effects[4] > 1.0  # duration: the pace habit
    assert w.argmin() == 4
    # the weight follows the rule stated in the module
    raw = 1.0 / (FLOOR + np.maximum(effects, 0.0))
    np.testing.assert_allclose(w, raw / raw.sum(), rtol=1e-12)
    assert s.weight_fit.same_reader_pairs == s.weight_fit.cross_reader_pairs == 4000
    assert s.weight_fit.readers == 4


def test_fit_is_seeded_and_does_not_depend_on_threads():
    a = _habit_archive()
    first = _fit(a).weights
    assert _fit(a).weights == first
    assert _fit(a, weight_fit_seed=1).weights != first
    p1 = mine(a, "multimatch", "topk", k=5, aggregate="none", scheme_options={"weights": "reader-invariant"}, threads=1)
    p2 = mine(a, "multimatch", "topk", k=5, aggregate="none", scheme_options={"weights": "reader-invariant"}, threads=2)
    assert p1.params["weights"] == p2.params["weights"] == list(first)
    assert np.array_equal(p1.indices, p2.indices) and np.array_equal(p1.scores, p2.scores)
    assert p1.params["weights_from"] == "reader-invariant"
    assert p1.params["weight_fit"]["same_reader_pairs"] == 4000


def test_mined_with_fitted_weights_equals_mining_with_those_weights_given():
    a = _habit_archive()
    fitted = mine(a, "multimatch", "topk", k=5, aggregate="none", scheme_options={"weights": "reader-invariant"}, threads=1)
    given = mine(a, "multimatch", "topk", k=5, aggregate="none",
                 scheme_options={"weights": tuple(fitted.params["weights"])}, threads=1)
    assert np.array_equal(fitted.indices, given.indices) and np.array_equal(fitted.scores, given.scores)


def test_real_data_fit_studyforrest():
    """Two real viewers per movie segment: the fit runs on real scanpaths and gives usable weights."""
    s = _fit(load_studyforrest(), weight_fit_pairs=500)
    w = np.array(s.weights)
    assert np.isfinite(w).all() and (w > 0).all() and w.sum() == pytest.approx(1.0)
    assert s.weight_fit.readers == 2 and s.weight_fit.same_reader_pairs == 500
    assert np.isfinite(s.weight_fit.reader_effects).all()


def test_chest_archive_fit_beats_mcgips_weights_without_labels(tmp_path):
    """The chest generator's readers have personal paces and checklists; fitted weights mine purer pairs."""
    from mcgip_fast.report.demo import pair_precision
    from mcgip_fast.synth import ChestConfig, generate_chest

    arch = generate_chest(tmp_path / "chest", ChestConfig(n_images=240, size=32, seed=0))
    labels = arch.labels().set_index("image_id")["label"]
    fitted = mine(arch.gaze(with_readers=True), "multimatch", "mutual", k=30, aggregate="all-pairs",
                  scheme_options={"weights": "reader-invariant"}, threads=1)
    fixed = mine(arch.gaze(), "multimatch", "mutual", k=30, scheme_options={"weights": MCGIP_WEIGHTS}, threads=1)
    p_fit = pair_precision(fitted, labels.loc[np.asarray(fitted.ids)].to_numpy())[0]
    p_fixed = pair_precision(fixed, labels.loc[np.asarray(fixed.ids)].to_numpy())[0]
    assert p_fit > p_fixed + 0.1
    assert list(fitted.ids) == list(fixed.ids)  # one reading per image: items are the images either way


def test_errors_name_the_problem():
    a = _habit_archive()
    no_readers = GazeArchive.from_arrays(a.image_ids, a.offsets, a.x, a.y, a.duration, screen=(1000.0, 1000.0))
    with pytest.raises(ValueError, match="needs reader ids"):
        _fit(no_readers)
    one = GazeArchive.from_arrays(a.image_ids, a.offsets, a.x, a.y, a.duration, readers=["solo"] * len(a),
                                  screen=(1000.0, 1000.0))
    with pytest.raises(ValueError, match="1 reader"):
        _fit(one)
    with pytest.raises(ValueError, match="reader-invariant"):
        MultiMatchScheme(weights="reader-blind")
    with pytest.raises(ValueError, match="pairs must be an integer >= 100"):
        _fit(a, weight_fit_pairs=10)
    with pytest.raises(RuntimeError, match="fitted when the scheme is bound"):
        MultiMatchScheme(weights="reader-invariant").score_range()


def test_cli(tmp_path, capsys):
    a = _habit_archive()
    rows = [(a.image_ids[i], a.readers[i], x, y, d) for i, sp in enumerate(a)
            for x, y, d in zip(sp.x, sp.y, sp.duration)]
    table = tmp_path / "fix.csv"
    pd.DataFrame(rows, columns=["image_id", "reader", "x", "y", "duration"]).to_csv(table, index=False)
    out = tmp_path / "pairs.npz"
    rc = main(["mine", "--gaze", str(table), "--screen", "1000", "1000", "--reader-col", "reader", "--aggregate", "all-pairs",
               "--weights", "reader-invariant", "--rule", "topk", "--k", "3", "--out", str(out), "--no-progress"])
    assert rc == 0
    assert "reader-invariant weights: vector" in capsys.readouterr().err
    pairs = PositivePairs.load(out)
    assert pairs.params["weights_from"] == "reader-invariant" and len(pairs.params["weights"]) == 5
    rc = main(["mine", "--gaze", str(table), "--screen", "1000", "1000", "--weights", "0.5", "0.5", "--out", str(out)])
    assert rc == 2
    assert "--weights takes 5 numbers" in capsys.readouterr().err
    rc = main(["mine", "--gaze", str(table), "--screen", "1000", "1000", "--weights", "reader-invariant", "--k", "3",
               "--out", str(out), "--no-progress"])
    assert rc == 2
    assert "needs reader ids" in capsys.readouterr().err
