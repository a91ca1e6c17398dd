"""GazeArchive layout and validation policies."""

import numpy as np
import pytest

import mcgip_fast
from mcgip_fast import GazeArchive, GazeValidationError, Scanpath


def _arch(**kw):
    sps = [
        np.array([[10, 10, 0.2], [20, 30, 0.3], [40, 50, 0.1]], float),
        np.array([[1, 2, 0.5], [3, 4, 0.5], [5, 6, 0.5], [7, 8, 0.5]], float),
    ]
    return GazeArchive.from_scanpaths(sps, ["a", "b"], screen=(100, 100), **kw)


def test_packed_layout_round_trips():
    arch = _arch()
    assert len(arch) == 2
    assert arch.offsets.tolist() == [0, 3, 7]
    assert arch.x.dtype == np.float64 and arch.x.flags.c_contiguous
    np.testing.assert_array_equal(arch[1].to_array()[:, 0], [1, 3, 5, 7])
    assert arch[0].image_id == "a"
    sub = arch.subset([1, 0])
    assert sub.image_ids.tolist() == ["b", "a"]
    np.testing.assert_array_equal(sub[1].x, arch[0].x)


def test_content_hash_changes_with_order_and_values():
    arch = _arch()
    assert arch.content_hash() == _arch().content_hash()
    assert arch.subset([1, 0]).content_hash() != arch.content_hash()


@pytest.mark.parametrize(
    "bad_row, needle",
    [([np.nan, 1, 0.2], "non-finite"), ([np.inf, 1, 0.2], "non-finite"), ([1, 1, 0.0], "duration"), ([1, 1, -0.1], "duration")],
)
def test_invalid_fixations_raise_with_row_and_id(bad_row, needle):
    sp = np.array([[1, 1, 0.1], bad_row, [2, 2, 0.1], [3, 3, 0.1]], float)
    with pytest.raises(GazeValidationError, match=rf"row 1 \(image id 'img7'\).*{needle}"):
        GazeArchive.from_scanpaths([sp], ["img7"], source="f.tsv")


def test_invalid_fixations_dropped_and_counted():
    sp = np.array([[1, 1, 0.1], [np.nan, 1, 0.2], [2, 2, 0.1], [3, 3, -1], [4, 4, 0.1]], float)
    arch = GazeArchive.from_scanpaths([sp], ["x"], on_invalid="drop")
    assert arch.lengths.tolist() == [3]
    assert len(arch.report.dropped_fixations) == 2
    assert not arch.report.clean


def test_off_screen_policies():
    sp = np.array([[1, 1, 0.1], [150, 1, 0.1], [2, 2, 0.1], [3, 3, 0.1]], float)
    with pytest.raises(GazeValidationError, match="outside the screen"):
        GazeArchive.from_scanpaths([sp], ["s"], screen=(100, 100))
    clipped = GazeArchive.from_scanpaths([sp], ["s"], screen=(100, 100), off_screen="clip")
    assert clipped.x.max() == 100 and len(clipped.report.clipped_fixations) == 1
    dropped = GazeArchive.from_scanpaths([sp], ["s"], screen=(100, 100), off_screen="drop")
    assert dropped.lengths.tolist() == [3] and len(dropped.report.dropped_fixations) == 1
    kept = GazeArchive.from_scanpaths([sp], ["s"], screen=(100, 100), off_screen="keep")
    assert kept.x.max() == 150


def test_short_and_empty_scanpaths():
    short = np.array([[1, 1, 0.1], [2, 2, 0.1]], float)
    ok = np.array([[1, 1, 0.1], [2, 2, 0.1], [3, 3, 0.1]], float)
    arch = GazeArchive.from_scanpaths([short, ok], ["s", "o"])
    assert len(arch) == 2 and len(arch.report.short_scanpaths) == 1
    with pytest.raises(GazeValidationError, match="'s'.*fewer than 3"):
        GazeArchive.from_scanpaths([short, ok], ["s", "o"], short="raise")
    dropped = GazeArchive.from_scanpaths([short, ok], ["s", "o"], short="drop")
    assert dropped.image_ids.tolist() == ["o"] and len(dropped.report.dropped_scanpaths) == 1
    with pytest.raises(GazeValidationError, match="empty scanpath"):
        GazeArchive.from_scanpaths([np.zeros((0, 3)), ok], ["e", "o"])
    dropped = GazeArchive.from_scanpaths([np.zeros((0, 3)), ok], ["e", "o"], short="drop")
    assert dropped.image_ids.tolist() == ["o"]


def test_duplicate_ids_raise():
    ok = np.array([[1, 1, 0.1], [2, 2, 0.1], [3, 3, 0.1]], float)
    with pytest.raises(GazeValidationError, match="duplicate image id 'a'"):
        GazeArchive.from_scanpaths([ok, ok], ["a", "a"])


def test_scanpath_shape_errors():
    with pytest.raises(GazeValidationError, match=r"\(n, 3\)"):
        Scanpath.from_array(np.zeros((4, 2)))
    with pytest.raises(GazeValidationError, match="differ in length"):
        Scanpath(np.zeros(3), np.zeros(2), np.zeros(3))


def test_rust_panic_becomes_exception():
    with pytest.raises(RuntimeError, match="deliberate test panic"):
        mcgip_fast._core._panic_for_tests()
    assert mcgip_fast._core.default_threads() >= 1


def test_import_does_not_pull_torch():
    import subprocess
    import sys

    code = "import sys, mcgip_fast; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
