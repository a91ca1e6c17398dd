"""A second synthetic archive, built differently from the mammography-like one (synth/images.py,
synth/gaze.py), to check that a recipe is not fitted to one generator.

What differs:

* **Images**: chest-radiograph-like. Two dark lung fields with soft edges, a bright mediastinum
  and heart shadow, ribs as bright arcs across the lungs, a fine texture, sensor noise and a
  random window. Findings sit inside a lung at a uniform position: a *nodule* (a small solid
  disc), a *cavity* (a bright ring around a darker lumen) or a *band* (a thin straight opacity,
  easily confused with a rib); *clear* images have none.
* **Readers**: a pool of readers with personal habits. Each follows their own checklist of lung
  zones (left then right, right then left, or alternating sides), with their own number of
  fixations per zone, pace, eye-tracker calibration offset and scatter; some look at a
  suspicious spot when their checklist reaches it, others come back to it at the end.
* **The class signal in gaze is geometric, not temporal.** Every reading has one episode of
  `episode_fixations` fixations (default 18) at a spot, with the same durations for every class. What differs is where the
  fixations go: a local look around (clear), comparison saccades to the mirror position in the
  other lung (nodule), a trip to the same lung's hilum and apex (cavity) or fixations traced
  along the opacity (band). Readers' habits (checklist order, offsets) change every scanpath,
  so gaze similarity also reflects who read an image. The episode's length sets how much of a
  reading carries the class: with 6 fixations mined MultiMatch positives were right 1.3x as often
  as chance (0.32 vs 0.25; too little for any method to gain), with 12 1.6x, with 18 1.9x (the first
  archive: 2.6x). Radiologists do dwell on a finding for several seconds (18 x ~0.35 s here).

`informativeness` means what it means for the first archive: the probability that a reading
shows the gaze pattern of the image's true class (else that of a uniformly random class). The
layout on disk, `SynthArchive` (for reading it back) and the checks in `synth.checks` are shared.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from mcgip_fast.synth.archive import SynthArchive, SynthConfig, write_archive
from mcgip_fast.synth.images import _grid, _power_law_noise, _segment_distance

__all__ = ["CHEST_CLASS_NAMES", "CHEST_GENERATOR", "ChestConfig", "generate_chest"]

CHEST_CLASS_NAMES: tuple[str, ...] = ("clear", "nodule", "cavity", "band")
CHEST_GENERATOR = "mcgip_fast.synth.chest"
#: Default fixations in every reading's episode, whatever the class: counts carry no class information.
EPISODE_FIXATIONS = 18


@dataclass(frozen=True)
class ChestConfig(SynthConfig):
    """Everything that determines a chest archive. Same config, same bytes.

    The fields (and their checks) are `SynthConfig`'s; the defaults differ: a larger reader pool
    with personal habits and a smaller display.

    Finding contrast (in units of the lung texture's amplitude) was (2.0, 3.5) with noise 0.2 until
    issue 12's fourth session: there, at 64 px and the demo's 40 epochs, no encoder learned the findings,
    even MoCo v2 with same-class positives at the mined graph's density (benchmarks/README.md), so the
    archive tested the image task rather than the gaze. At (3.0, 5.0) and 0.15 it tests the gaze.
    `ChestConfig(contrast_range=(2.0, 3.5), noise=0.2)` gives the old archive back.
    """

    n_readers: int = 6
    display_scale: float = 6.0
    contrast_range: tuple[float, float] = (3.0, 5.0)
    noise: float = 0.15
    episode_fixations: int = EPISODE_FIXATIONS

    def validate(self) -> None:
        super().validate()
        if isinstance(self.episode_fixations, bool) or not isinstance(self.episode_fixations, int) or self.episode_fixations < 3:
            raise ValueError(f"episode_fixations must be an integer >= 3, got {self.episode_fixations!r}")


# ---------------------------------------------------------------------------------------- images
@dataclass(frozen=True)
class Anatomy:
    """Lung fields as ellipses (centre x, centre y, semi-axes), in image pixels."""

    lungs: tuple[tuple[float, float, float, float], tuple[float, float, float, float]]
    midline: float

    def inside(self, x: float, y: float, side: int, margin: float = 0.0) -> bool:
        cx, cy, ax, ay = self.lungs[side]
        return ((x - cx) / max(ax - margin, 1e-6)) ** 2 + ((y - cy) / max(ay - margin, 1e-6)) ** 2 <= 1.0

    def random_point(self, rng: np.random.Generator, margin: float) -> tuple[float, float, int]:
        side = int(rng.integers(0, 2))
        cx, cy, ax, ay = self.lungs[side]
        r, t = np.sqrt(rng.uniform(0, 1)), rng.uniform(0, 2 * np.pi)
        return cx + r * (ax - margin) * np.cos(t), cy + r * (ay - margin) * np.sin(t), side


@dataclass(frozen=True)
class ChestFinding:
    cls: int
    x: float
    y: float
    radius: float  # half the extent (nodule, cavity radius; half the band's length)
    angle: float  # the band's direction (0 for the others)
    side: int


def _anatomy(rng: np.random.Generator, size: int) -> Anatomy:
    s = size
    jitter = lambda v, f: v * (1 + rng.uniform(-f, f))  # noqa: E731
    mid = s * (0.5 + rng.uniform(-0.03, 0.03))
    lungs = tuple((mid + sign * jitter(0.2 * s, 0.08), jitter(0.5 * s, 0.05), jitter(0.16 * s, 0.08), jitter(0.33 * s, 0.06))
                  for sign in (-1, 1))
    return Anatomy(lungs, mid)  # type: ignore[arg-type]


def _lung_mask(anatomy: Anatomy, xx, yy, edge: float) -> np.ndarray:
    mask = np.zeros_like(xx)
    for cx, cy, ax, ay in anatomy.lungs:
        d = np.sqrt(((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2)
        mask = np.maximum(mask, 1 / (1 + np.exp((d - 1) * ax / edge)))
    return mask


def _ribs(rng: np.random.Generator, anatomy: Anatomy, xx, yy, size: int) -> np.ndarray:
    out = np.zeros_like(xx)
    width = 1.1 * size / 64
    for cx, cy, ax, ay in anatomy.lungs:
        n = int(rng.integers(6, 9))
        for y0 in np.linspace(cy - ay, cy + ay * 0.8, n) + rng.normal(0, 0.01 * size, n):
            bend = rng.uniform(0.08, 0.16) * size
            curve = y0 + bend * ((xx - cx) / ax) ** 2 - bend * 0.5
            out += rng.uniform(0.5, 0.9) * np.exp(-0.5 * ((yy - curve) / width) ** 2)
    return out


def _finding_layer(rng, cls: int, anatomy: Anatomy, xx, yy, size: int) -> tuple[np.ndarray, ChestFinding | None]:
    if cls == 0:
        return np.zeros_like(xx), None
    u = size / 64
    if cls == 1:
        r = rng.uniform(2.0, 3.5) * u
    elif cls == 2:
        r = rng.uniform(4.0, 6.5) * u
    else:
        r = rng.uniform(5.0, 8.0) * u
    x, y, side = anatomy.random_point(rng, margin=r + 2 * u)
    d = np.hypot(xx - x, yy - y)
    angle = 0.0
    if cls == 1:  # nodule: a solid disc
        layer = np.sqrt(np.clip(1 - (d / r) ** 2, 0, None))
    elif cls == 2:  # cavity: a bright wall around a darker lumen
        wall = 1.3 * u
        layer = np.exp(-0.5 * ((d - r) / wall) ** 2) - 0.5 * np.clip(1 - (d / (r - wall)) ** 2, 0, None)
    elif cls == 3:  # band: a thin straight opacity
        angle = rng.uniform(0, np.pi)
        dx, dy = r * np.cos(angle), r * np.sin(angle)
        layer = 0.9 * np.exp(-0.5 * (_segment_distance(xx, yy, x - dx, y - dy, x + dx, y + dy) / (1.0 * u)) ** 2)
    else:
        raise ValueError(f"class index {cls} is not one of 0..{len(CHEST_CLASS_NAMES) - 1}")
    return layer, ChestFinding(cls, float(x), float(y), float(r), float(angle), side)


def render_chest(rng: np.random.Generator, cls: int, size: int, contrast_range, noise: float):
    """One uint8 chest image of class `cls`, its anatomy and its finding (None when clear)."""
    xx, yy = _grid(size)
    anatomy = _anatomy(rng, size)
    lungs = _lung_mask(anatomy, xx, yy, edge=1.5 * size / 64)
    heart = np.exp(-0.5 * (((xx - anatomy.midline + 0.06 * size) / (0.13 * size)) ** 2 + ((yy - 0.72 * size) / (0.12 * size)) ** 2))
    texture = _power_law_noise(rng, size, rng.uniform(2.2, 2.8))
    img = 1.0 - 1.6 * lungs + 0.6 * heart * (1 - 0.5 * lungs)
    img += 0.35 * _ribs(rng, anatomy, xx, yy, size) * (0.3 + lungs)
    img += 0.2 * texture
    layer, finding = _finding_layer(rng, cls, anatomy, xx, yy, size)
    img += 0.2 * rng.uniform(*contrast_range) * layer
    img += 0.2 * noise * rng.standard_normal((size, size))
    # A random window per image: brightness and contrast of the whole image say nothing about the class.
    img = (img - img.mean()) / (img.std() + 1e-12)
    out = np.clip(rng.uniform(0.42, 0.58) + rng.uniform(0.12, 0.17) * img, 0.0, 1.0)
    return np.round(out * 255).astype(np.uint8), anatomy, finding


# ---------------------------------------------------------------------------------------- readers
@dataclass(frozen=True)
class ChestReader:
    """One reader's personal habits."""

    name: str
    order: str  # "left-right", "right-left" or "alternate": the checklist of lung zones
    per_zone: int  # fixations per zone
    pace: float  # mean fixation duration, seconds
    offset: tuple[float, float]  # calibration offset, as a fraction of the image side
    scatter: float  # fixation scatter, as a fraction of the image side
    defer: bool  # look at the spot at the end of the checklist instead of when reaching its zone


def make_chest_readers(rng: np.random.Generator, n: int) -> list[ChestReader]:
    orders = ("left-right", "right-left", "alternate")
    return [
        ChestReader(
            name=f"reader{k:02d}",
            order=orders[k % len(orders)] if n >= len(orders) else orders[int(rng.integers(0, len(orders)))],
            per_zone=int(rng.integers(1, 3)),
            pace=float(rng.uniform(0.18, 0.32)),
            offset=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03))),
            scatter=float(rng.uniform(0.01, 0.03)),
            defer=bool(rng.random() < 0.5),
        )
        for k in range(n)
    ]


def _zones(anatomy: Anatomy, order: str) -> list[tuple[float, float, int]]:
    """Zone centres (x, y, side) in the reader's checklist order, then the heart."""
    per_side = [[(cx, cy + f * ay, side) for f in (-0.6, 0.0, 0.6)] for side, (cx, cy, ax, ay) in enumerate(anatomy.lungs)]
    if order == "left-right":
        zones = per_side[0] + per_side[1]
    elif order == "right-left":
        zones = per_side[1] + per_side[0]
    else:
        zones = [z for pair in zip(*per_side) for z in pair]
    return zones + [(anatomy.midline, anatomy.lungs[0][1] + 0.4 * anatomy.lungs[0][3], -1)]


def _episode_points(rng, behaviour: int, spot, side: int, anatomy: Anatomy, finding: ChestFinding | None, size: int,
                    n: int = EPISODE_FIXATIONS):
    """Where the episode's `n` fixations go; the class is in this geometry only."""
    x, y = spot
    u = size / 64
    if behaviour == 0:  # a local look around
        return [(x, y)] + [(x + dx, y + dy) for dx, dy in rng.normal(0, 5 * u, (n - 1, 2))]
    if behaviour == 1:  # compare with the mirror position in the other lung, back and forth
        mx = 2 * anatomy.midline - x
        return [(x, y) if k % 2 == 0 else (mx, y) for k in range(n)]
    if behaviour == 2:  # follow up to the same lung's hilum and apex, and back
        cx, cy, ax, ay = anatomy.lungs[side]
        hilum = (anatomy.midline + (cx - anatomy.midline) * 0.45, cy)
        apex = (cx, cy - 0.8 * ay)
        return [((x, y), hilum, apex)[k % 3] for k in range(n)]
    # trace along the opacity: the real band's direction, else one the reader thinks they see
    real = finding is not None and finding.cls == 3
    angle = finding.angle if real else rng.uniform(0, np.pi)
    half = finding.radius if real else rng.uniform(5.0, 8.0) * u
    t = np.linspace(-1, 1, n) * half
    return [(x + a * np.cos(angle), y + a * np.sin(angle)) for a in t]


def simulate_chest_scanpath(rng: np.random.Generator, reader: ChestReader, anatomy: Anatomy, finding: ChestFinding | None,
                            size: int, behaviour: int, episode_fixations: int = EPISODE_FIXATIONS) -> np.ndarray:
    """(n, 3) array of x, y (image pixels) and duration (s) for one reading."""
    u = size / 64
    if finding is not None:
        spot, side = (finding.x, finding.y), finding.side
    else:
        px, py, side = anatomy.random_point(rng, margin=5 * u)
        spot = (px, py)
    zones = _zones(anatomy, reader.order)
    # the checklist reaches the spot at its side's nearest zone
    near = int(np.argmin([np.hypot(zx - spot[0], zy - spot[1]) + (0 if zs == side else 1e6) for zx, zy, zs in zones]))
    episode = _episode_points(rng, behaviour, spot, side, anatomy, finding, size, episode_fixations)
    points: list[tuple[float, float, float]] = []
    for k, (zx, zy, _) in enumerate(zones):
        for _ in range(reader.per_zone):
            jx, jy = rng.normal(0, 3 * u, 2)
            points.append((zx + jx, zy + jy, reader.pace))
        if k == near and not reader.defer:
            points += [(ex, ey, 1.4 * reader.pace) for ex, ey in episode]
    if reader.defer:
        points += [(ex, ey, 1.4 * reader.pace) for ex, ey in episode]
    arr = np.asarray(points, dtype=np.float64)
    arr[:, 2] *= np.exp(rng.normal(-0.5 * 0.3**2, 0.3, len(arr)))  # the same duration law for every class
    arr[:, 0] += reader.offset[0] * size
    arr[:, 1] += reader.offset[1] * size
    arr[:, :2] += rng.normal(0, reader.scatter * size, (len(arr), 2))
    arr[:, :2] = np.clip(arr[:, :2], 0.0, size)
    return arr


# ---------------------------------------------------------------------------------------- archive
def generate_chest(root: str | Path, config: ChestConfig | None = None, *, overwrite: bool = False) -> SynthArchive:
    """Generate a chest archive under `root` and return it (read it back with `SynthArchive.open`).

    Deterministic; images and gaze use separate random streams, so archives that differ only in
    `informativeness` have identical images. Refuses a non-empty `root` unless `overwrite`.
    """
    config = config or ChestConfig()
    readers = make_chest_readers(np.random.default_rng(np.random.SeedSequence([config.seed, 611953])), config.n_readers)

    def render(rng, cls):
        img, anatomy, finding = render_chest(rng, cls, config.size, config.contrast_range, config.noise)
        return img, finding, (anatomy, finding)

    def simulate(rng, reader, scene, behaviour):
        return simulate_chest_scanpath(rng, reader, scene[0], scene[1], config.size, behaviour, config.episode_fixations)

    return write_archive(root, config, overwrite=overwrite, generator=CHEST_GENERATOR, class_names=CHEST_CLASS_NAMES,
                         readers=readers, render=render, simulate=simulate)
