"""Write and read a synthetic archive in the layout of a real dataset.

::

    root/
      images/img_00000.png ...   8-bit greyscale
      manifest.csv               image_id, path (relative to root), width, height
      fixations.csv              image_id, reader, fixation, x, y, duration, onset
      labels.csv                 image_id, label, class_name   (evaluation only)
      truth.csv                  image_id, reader, gaze_behaviour, finding_x, finding_y, finding_radius
      meta.json                  the SynthConfig, class names and display size

Fixations are in display pixels: the image fills a square display of
``size * display_scale`` pixels, as a reading station shows a small image enlarged.
Durations and onsets are in seconds. `labels.csv` and `truth.csv` are hidden from
mining and training; only evaluation and the report read them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from mcgip_fast.synth.gaze import behaviour_class, make_readers, simulate_scanpath
from mcgip_fast.synth.images import CLASS_NAMES, render_image

LAYOUT_VERSION = 1
#: meta.json's "generator" of this module's archives (synth/chest.py writes another).
GENERATOR = "mcgip_fast.synth"


@dataclass(frozen=True)
class SynthConfig:
    """Everything that determines a synthetic archive. Same config, same bytes.

    Attributes:
        n_images: number of images; classes are balanced (up to rounding).
        size: image side in pixels (64 to 128 is the intended range).
        informativeness: in [0, 1]; probability that a reading shows the gaze pattern of the
            image's true class (else a uniformly random class's). 0 makes gaze carry no class information.
        n_readers: size of the reader pool; each reading is by a random reader of the pool.
        readers_per_image: readings per image (each by a different reader).
        display_scale: display pixels per image pixel (fixations are in display pixels).
        contrast_range: finding contrast, in units of the background's spread.
        noise: sensor noise, in units of the background's spread.
        seed: the one seed. Images and gaze use separate streams, so archives that differ only
            in `informativeness` have identical images.
    """

    n_images: int = 800
    size: int = 64
    informativeness: float = 0.9
    n_readers: int = 4
    readers_per_image: int = 1
    display_scale: float = 8.0
    contrast_range: tuple[float, float] = (2.5, 4.5)
    noise: float = 0.15
    seed: int = 0

    def validate(self) -> None:
        if self.n_images < len(CLASS_NAMES):
            raise ValueError(f"n_images must be at least {len(CLASS_NAMES)} (one per class), got {self.n_images}")
        if not 16 <= self.size <= 1024:
            raise ValueError(f"size must be between 16 and 1024 pixels, got {self.size}")
        if not 0.0 <= self.informativeness <= 1.0:
            raise ValueError(f"informativeness must be in [0, 1], got {self.informativeness}")
        if self.n_readers < 1:
            raise ValueError(f"n_readers must be at least 1, got {self.n_readers}")
        if not 1 <= self.readers_per_image <= self.n_readers:
            raise ValueError(
                f"readers_per_image must be between 1 and n_readers={self.n_readers}, got {self.readers_per_image}"
            )
        if self.display_scale <= 0:
            raise ValueError(f"display_scale must be positive, got {self.display_scale}")
        lo, hi = self.contrast_range
        if not 0 <= lo <= hi:
            raise ValueError(f"contrast_range must be (low, high) with 0 <= low <= high, got {self.contrast_range}")
        if self.noise < 0:
            raise ValueError(f"noise must be non-negative, got {self.noise}")

    @property
    def display(self) -> float:
        return float(self.size * self.display_scale)


@dataclass
class SynthArchive:
    """A synthetic archive on disk. Build one with `generate`, or open one with `SynthArchive.open`."""

    root: Path
    config: SynthConfig
    class_names: tuple[str, ...] = field(default=CLASS_NAMES)

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.csv"

    @property
    def fixations_path(self) -> Path:
        return self.root / "fixations.csv"

    @property
    def labels_path(self) -> Path:
        return self.root / "labels.csv"

    @property
    def truth_path(self) -> Path:
        return self.root / "truth.csv"

    @property
    def screen(self) -> tuple[float, float]:
        """(width, height) of the display the fixations are in."""
        return (self.config.display, self.config.display)

    def manifest(self) -> pd.DataFrame:
        return pd.read_csv(self.manifest_path, dtype={"image_id": str})

    def fixations(self) -> pd.DataFrame:
        return pd.read_csv(self.fixations_path, dtype={"image_id": str, "reader": str})

    def labels(self) -> pd.DataFrame:
        return pd.read_csv(self.labels_path, dtype={"image_id": str})

    def truth(self) -> pd.DataFrame:
        return pd.read_csv(self.truth_path, dtype={"image_id": str, "reader": str})

    def image_paths(self) -> list[Path]:
        return [self.root / p for p in self.manifest()["path"]]

    def gaze(self, with_readers: bool | None = None):
        """The fixation table as a `GazeArchive` (one scanpath per reading, in manifest order).

        Readers are kept as the archive's `readers` when there are several readings per image
        (`with_readers=None` decides that from the config).
        """
        from mcgip_fast.gaze.archive import GazeArchive

        fx = self.fixations()
        if with_readers is None:
            with_readers = self.config.readers_per_image > 1
        order = {k: i for i, k in enumerate(self.manifest()["image_id"])}
        fx = fx.assign(_o=fx["image_id"].map(order)).sort_values(["_o", "reader", "fixation"], kind="stable")
        keys = fx["image_id"] + "|" + fx["reader"]
        starts = np.flatnonzero(np.r_[True, keys.to_numpy()[1:] != keys.to_numpy()[:-1]])
        offsets = np.r_[starts, len(fx)].astype(np.int64)
        first = fx.iloc[starts]
        return GazeArchive.from_arrays(
            first["image_id"].to_numpy(),
            offsets,
            fx["x"].to_numpy(),
            fx["y"].to_numpy(),
            fx["duration"].to_numpy(),
            onset=fx["onset"].to_numpy(),
            readers=first["reader"].to_numpy() if with_readers else None,
            screen=self.screen,
            source=str(self.fixations_path),
        )

    @classmethod
    def open(cls, root: str | Path) -> "SynthArchive":
        """Open an archive that `generate` wrote."""
        root = Path(root)
        meta_path = root / "meta.json"
        if not meta_path.exists():
            raise FileNotFoundError(f"{root}: no meta.json; not a synthetic archive written by mcgip_fast.synth")
        meta = json.loads(meta_path.read_text())
        if meta.get("layout_version") != LAYOUT_VERSION:
            raise ValueError(f"{root}: layout version {meta.get('layout_version')}, expected {LAYOUT_VERSION}")
        cfg = meta["config"]
        cfg["contrast_range"] = tuple(cfg["contrast_range"])
        config_class = SynthConfig
        if meta.get("generator") == "mcgip_fast.synth.chest":
            from mcgip_fast.synth.chest import ChestConfig as config_class
        return cls(root, config_class(**cfg), tuple(meta["class_names"]))


def _streams(seed: int, n: int) -> list[tuple[np.random.Generator, np.random.Generator]]:
    """Per image: (image stream, gaze stream). Image i's streams do not depend on n."""
    root = np.random.SeedSequence(seed)
    children = root.spawn(n)
    return [tuple(np.random.default_rng(s) for s in c.spawn(2)) for c in children]  # type: ignore[misc]


def balanced_labels(seed: int, n: int, k: int = len(CLASS_NAMES)) -> np.ndarray:
    """A shuffled label vector with each of k classes n//k or n//k + 1 times."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919]))
    return rng.permutation(np.arange(n) % k)


def generate(root: str | Path, config: SynthConfig | None = None, *, overwrite: bool = False) -> SynthArchive:
    """Generate a synthetic archive under `root` (created) and return it.

    Deterministic: the same config writes the same files. Refuses a non-empty `root` unless
    `overwrite` (then the archive's own files are replaced).
    """
    config = config or SynthConfig()
    readers = make_readers(np.random.default_rng(np.random.SeedSequence([config.seed, 104729])), config.n_readers)
    return write_archive(
        root, config, overwrite=overwrite, generator=GENERATOR, class_names=CLASS_NAMES, readers=readers,
        # the finding is all the simulated reader needs to know about the image
        render=lambda rng, cls: (lambda img, finding: (img, finding, finding))(
            *render_image(rng, cls, config.size, config.contrast_range, config.noise)),
        simulate=lambda rng, reader, finding, behaviour: simulate_scanpath(rng, reader, finding, float(config.size), behaviour),
    )


def write_archive(root: str | Path, config, *, overwrite: bool, generator: str, class_names, readers, render, simulate) -> SynthArchive:
    """The generation loop both generators share (one source for the layout and the random streams).

    ``render(image_rng, cls)`` returns (uint8 image, finding, scene): the finding has x, y and
    radius in image pixels (None for a normal image); the scene, whatever the reader model needs,
    is handed to ``simulate(gaze_rng, reader, scene, behaviour)``, which returns one reading's
    (n, 3) x, y (image px), duration (s) array.
    """
    import cv2

    config.validate()
    root = Path(root)
    if root.exists() and any(root.iterdir()) and not overwrite:
        raise FileExistsError(f"{root} is not empty; pass overwrite=True to replace the archive there")
    (root / "images").mkdir(parents=True, exist_ok=True)
    n, scale = config.n_images, config.display_scale
    labels = balanced_labels(config.seed, n, len(class_names))
    manifest, label_rows, truth_rows, fix_parts = [], [], [], []
    for i, (img_rng, gaze_rng) in enumerate(_streams(config.seed, n)):
        image_id = f"img_{i:05d}"
        cls = int(labels[i])
        img, finding, scene = render(img_rng, cls)
        rel = f"images/{image_id}.png"
        if not cv2.imwrite(str(root / rel), img):
            raise RuntimeError(f"could not write {root / rel}")
        manifest.append((image_id, rel, config.size, config.size))
        label_rows.append((image_id, cls, class_names[cls]))
        chosen = gaze_rng.choice(len(readers), size=config.readers_per_image, replace=False)
        for r in sorted(int(c) for c in chosen):
            behaviour = behaviour_class(gaze_rng, cls, config.informativeness)
            sp = simulate(gaze_rng, readers[r], scene, behaviour)
            fix_parts.append(reading_table(image_id, readers[r].name, sp, scale))
            fx, fy, fr = (finding.x * scale, finding.y * scale, finding.radius * scale) if finding else (np.nan,) * 3
            truth_rows.append((image_id, readers[r].name, class_names[behaviour], fx, fy, fr))
    write_tables(root, config, generator, class_names, readers, manifest, label_rows, truth_rows, fix_parts)
    return SynthArchive(root, config, tuple(class_names))


def reading_table(image_id: str, reader: str, scanpath: np.ndarray, scale: float) -> pd.DataFrame:
    """One reading's rows of fixations.csv from an (n, 3) x, y (image px), duration (s) array."""
    # Saccades take ~20 ms plus ~2 ms per degree; use display pixels / 40 as degrees.
    amp = np.r_[0.0, np.hypot(*np.diff(scanpath[:, :2] * scale, axis=0).T)]
    onset = np.cumsum(np.r_[0.0, scanpath[:-1, 2]] + np.where(amp > 0, 0.02 + 0.002 * amp / 40, 0.0))
    return pd.DataFrame({"image_id": image_id, "reader": reader, "fixation": np.arange(len(scanpath)),
                         "x": scanpath[:, 0] * scale, "y": scanpath[:, 1] * scale, "duration": scanpath[:, 2], "onset": onset})


def write_tables(root: Path, config, generator: str, class_names, readers, manifest, label_rows, truth_rows, fix_parts) -> None:
    """Write manifest.csv, fixations.csv, labels.csv, truth.csv and meta.json (the shared layout)."""
    pd.DataFrame(manifest, columns=["image_id", "path", "width", "height"]).to_csv(root / "manifest.csv", index=False)
    pd.concat(fix_parts, ignore_index=True).to_csv(root / "fixations.csv", index=False, float_format="%.4f")
    pd.DataFrame(label_rows, columns=["image_id", "label", "class_name"]).to_csv(root / "labels.csv", index=False)
    pd.DataFrame(
        truth_rows, columns=["image_id", "reader", "gaze_behaviour", "finding_x", "finding_y", "finding_radius"]
    ).to_csv(root / "truth.csv", index=False, float_format="%.3f")
    meta = {
        "layout_version": LAYOUT_VERSION,
        "generator": generator,
        "config": asdict(config),
        "class_names": list(class_names),
        "display": [config.display, config.display],
        "units": {"x": "display px", "y": "display px", "duration": "s", "onset": "s"},
        "readers": [asdict(r) for r in readers],
    }
    (root / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))
