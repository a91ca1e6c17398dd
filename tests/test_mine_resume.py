"""Kill-and-resume: a run SIGKILLed mid-way resumes to byte-identical output; work-directory checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from mcgip_fast.mining import CorruptTileError, WorkdirMismatchError, mine
from mcgip_fast.mining.score import KILL_AFTER_ENV
from mcgip_fast.mining.synthetic import random_archive


@pytest.fixture(scope="module")
def table(tmp_path_factory):
    """A generated archive written as a fixation table, the CLI's usual input."""
    import pandas as pd

    a = random_archive(90, 12, seed=11, short=1)
    owner = np.repeat(a.image_ids, a.lengths)
    path = tmp_path_factory.mktemp("gaze") / "fixations.parquet"
    pd.DataFrame({"image_id": owner, "x": a.x, "y": a.y, "duration": a.duration}).to_parquet(path)
    return path


def cli(*args, env_extra=None):
    env = dict(os.environ)
    env.pop(KILL_AFTER_ENV, None)
    env.update(env_extra or {})
    return subprocess.run(
        [sys.executable, "-m", "mcgip_fast.cli.main", "mine", *map(str, args)],
        capture_output=True, text=True, env=env, timeout=300,
    )


@pytest.mark.parametrize("rule_args, suffix", [(("--rule", "topk", "--k", "4"), ".parquet"), (("--rule", "percentile", "--percentile", "90", "--sample-size", "500"), ".npz")])
def test_sigkill_then_resume_is_byte_identical(tmp_path, table, rule_args, suffix):
    common = ["--gaze", table, "--screen", 1280, 720, "--scheme", "multimatch", *rule_args, "--tile-rows", 9, "--no-progress"]
    # Uninterrupted reference run, no work directory, other thread count.
    ref = cli(*common, "--out", tmp_path / f"ref{suffix}", "--threads", 1)
    assert ref.returncode == 0, ref.stderr

    wd = tmp_path / "work"
    killed = cli(*common, "--out", tmp_path / f"out{suffix}", "--workdir", wd, "--threads", 2, env_extra={KILL_AFTER_ENV: "4"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (tmp_path / f"out{suffix}").exists()
    tiles = sorted(p.name for p in (wd / "tiles").iterdir())
    assert tiles == [f"tile-{t:06d}.npz" for t in range(4)]  # only complete tiles, no temporaries

    resumed = cli(*common, "--out", tmp_path / f"out{suffix}", "--workdir", wd, "--resume", "--threads", 2)
    assert resumed.returncode == 0, resumed.stderr
    assert "4 reused" in resumed.stderr
    assert (tmp_path / f"out{suffix}").read_bytes() == (tmp_path / f"ref{suffix}").read_bytes()


def test_workdir_from_a_different_run(tmp_path):
    a = random_archive(30, 8, seed=1)
    wd = tmp_path / "w"
    mine(a, "multimatch", "topk", k=3, workdir=wd, tile_rows=5)
    with pytest.raises(WorkdirMismatchError, match=r"work directory from a different run \(differs in: params\)"):
        mine(a, "multimatch", "topk", k=4, workdir=wd, tile_rows=5, resume=True)
    with pytest.raises(WorkdirMismatchError, match="work directory from a different run.*tiles"):
        mine(a, "multimatch", "topk", k=3, workdir=wd, tile_rows=6, resume=True)
    other = random_archive(30, 8, seed=2)
    with pytest.raises(WorkdirMismatchError, match="work directory from a different run.*archive_hash"):
        mine(other, "multimatch", "topk", k=3, workdir=wd, tile_rows=5, resume=True)
    with pytest.raises(WorkdirMismatchError, match="already holds a mining run; pass --resume"):
        mine(a, "multimatch", "topk", k=3, workdir=wd, tile_rows=5)
    # The same run resumes and reuses every tile.
    p = mine(a, "multimatch", "topk", k=3, workdir=wd, tile_rows=5, resume=True)
    assert p.report.tiles_reused == p.report.tiles_total == 6
    assert p == mine(a, "multimatch", "topk", k=3)


def test_workdir_not_empty_without_manifest(tmp_path):
    (tmp_path / "stuff.txt").write_text("x")
    with pytest.raises(WorkdirMismatchError, match="not empty and holds no mining manifest"):
        mine(random_archive(10, 5), "multimatch", "topk", k=1, workdir=tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_tile_is_named(tmp_path, damage):
    a = random_archive(30, 8, seed=1)
    wd = tmp_path / "w"
    ref = mine(a, "multimatch", "topk", k=3, workdir=wd, tile_rows=5)
    victim = wd / "tiles" / "tile-000002.npz"
    data = bytearray(victim.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        # Flip a bit inside the score array's payload (the file ends with checksum then counts...).
        pos = data.find(b"score.npy") + 200
        data[pos] ^= 0x01
    victim.write_bytes(bytes(data))
    with pytest.raises(CorruptTileError, match=r"tile-000002\.npz: corrupt tile file.*delete it and resume"):
        mine(a, "multimatch", "topk", k=3, workdir=wd, tile_rows=5, resume=True)
    victim.unlink()
    again = mine(a, "multimatch", "topk", k=3, workdir=wd, tile_rows=5, resume=True)
    assert again == ref and again.report.tiles_reused == 5


def test_leftover_temporary_files_are_ignored_and_removed(tmp_path):
    a = random_archive(20, 6, seed=3)
    wd = tmp_path / "w"
    ref = mine(a, "multimatch", "topk", k=2, workdir=wd, tile_rows=4)
    (wd / "tiles" / "tile-000001.npz").unlink()
    junk = wd / "tiles" / ".tile-000001.npz.tmp12345"
    junk.write_bytes(b"half a tile")
    again = mine(a, "multimatch", "topk", k=2, workdir=wd, tile_rows=4, resume=True)
    assert again == ref and again.report.tiles_reused == 4 and not junk.exists()
