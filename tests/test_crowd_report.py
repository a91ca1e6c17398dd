"""The demo's crowd section on a tiny folder of the crowd data's shape (the real data is not shipped)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("torch")

from mcgip_fast.report.crowd import CROWD_SCREEN, find_crowd_data, run_crowd  # noqa: E402
from mcgip_fast.report.demo import DemoConfig, DemoResult  # noqa: E402
from mcgip_fast.report.markdown import _markdown, terminal_summary  # noqa: E402


@pytest.fixture(scope="module")
def crowd_folder(tmp_path_factory):
    from PIL import Image

    root = tmp_path_factory.mktemp("crowd")
    rng = np.random.default_rng(0)
    (root / "images").mkdir()
    ids = [f"{i:03d}" for i in range(1, 25)]
    rows = []
    for k, image in enumerate(ids):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(root / "images" / f"{image}.jpg")
        for v in range(3):
            for _ in range(rng.integers(4, 8)):
                rows.append(dict(image_id=image, viewer=f"v{v:02d}", x=rng.uniform(0, CROWD_SCREEN[0]),
                                 y=rng.uniform(0, CROWD_SCREEN[1]), duration=rng.uniform(0.1, 0.4)))
    pd.DataFrame(rows).to_csv(root / "fixations.csv", index=False)
    pd.DataFrame({"image_id": ids, "n_faces": np.arange(24), "crowd_level": np.arange(24) % 4 + 1}).to_csv(root / "labels.csv", index=False)
    pd.DataFrame({"image_id": ids, "path": [f"images/{i}.jpg" for i in ids]}).to_csv(root / "manifest.csv", index=False)
    return root


def test_find_crowd_data(crowd_folder, tmp_path, monkeypatch):
    assert find_crowd_data(crowd_folder) == crowd_folder
    monkeypatch.setenv("MCGIP_CROWD_DATA", str(crowd_folder))
    assert find_crowd_data(None) == crowd_folder
    monkeypatch.setenv("MCGIP_CROWD_DATA", str(tmp_path))
    assert find_crowd_data(tmp_path / "nothing") in (None, find_crowd_data(None))


@pytest.mark.slow
def test_crowd_section_mines_trains_probes_and_reports(crowd_folder, tmp_path):
    cfg = DemoConfig.quick(out=str(tmp_path / "report"), crowd=True, crowd_data=str(crowd_folder), crowd_k=3,
                           eval_seeds=(0,), knn_k=5)
    crowd = run_crowd(cfg, tmp_path / "work", log=lambda m: None)
    assert crowd.n_images == 24 and crowd.n_readers == 3
    m = crowd.mining
    assert m["chance"] == pytest.approx((4 * 6 * 5) / (24 * 23))
    assert 0 <= m["precision"] <= 1 and m["pairs"] > 0
    assert {r.name for r in crowd.runs} == {"moco baseline", "moco +McGIP"}
    comp = crowd.comparisons("linear")
    assert len(comp) == 1 and comp.iloc[0]["n"] == 1
    text = crowd.to_markdown()
    assert "same-reader" in text and "precision vs crowd level" in text and "moco +McGIP" in text
    assert f"{m['precision']:.3f}" in text and crowd.verdict() in text
    # The demo report's section and terminal line (the synthetic part of the result left empty).
    result = DemoResult(cfg, crowd=crowd)
    md = _markdown(result, result.probe_summary(), {}, {}, tmp_path)
    assert "## 5. Real images with real gaze" in md and "Real images with real gaze: crowd" in md
    assert crowd.verdict() in terminal_summary(result, tmp_path / "report.md")
