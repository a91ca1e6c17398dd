"""Simulated readers: a systematic search plus class-dependent dwell on the finding.

A reader's scanpath on one image has three parts:

1. a systematic search over a grid of the image, in the reader's own order (rows, columns or
   a snake), with the reader's own pace and spatial noise;
2. when the search reaches the suspicious spot, an *episode* whose shape depends on the
   behaviour class: a brief check (normal), a few long central fixations (round mass), a ring
   of fixations along the margin (spiculated mass) or many short hops between dots
   (calcification cluster); after finding something, readers shorten the rest of the search;
3. class-dependent *revisits* of the spot at the end.

How informative gaze is about the class is one number, `informativeness` in [0, 1]: the
behaviour class equals the true class with that probability, and is otherwise drawn uniformly
from all classes, independently of the image. At 0 the scanpath shape is independent of the
class. The spot the reader dwells on is the finding when there is one and the behaviour calls
for it, else a random place; finding positions are uniform, so location carries no class
information at any level.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcgip_fast.synth.images import CLASS_NAMES, RADIUS_RANGE, Finding, calcification_dots


@dataclass(frozen=True)
class Reader:
    """One simulated reader's habits."""

    name: str
    grid: int  # search grid is grid x grid cells
    order: str  # "rows", "columns" or "snake"
    pace: float  # mean search fixation duration, seconds
    dwell_gain: float  # how much longer than average this reader dwells
    spatial_noise: float  # fixation scatter, as a fraction of the image side


def make_readers(rng: np.random.Generator, n: int) -> list[Reader]:
    """`n` readers with different search grids, orders, paces and noise."""
    orders = ("rows", "columns", "snake")
    return [
        Reader(
            name=f"reader{k:02d}",
            grid=int(rng.integers(3, 5)),
            order=orders[int(rng.integers(0, len(orders)))],
            pace=float(rng.uniform(0.20, 0.30)),
            dwell_gain=float(rng.uniform(0.8, 1.25)),
            spatial_noise=float(rng.uniform(0.015, 0.035)),
        )
        for k in range(n)
    ]


# Per behaviour class: fixations in the episode, their mean duration (s), how far they sit from the
# spot centre (in finding radii), revisits and fixations per revisit, share of the search left after.
_BEHAVIOUR = {
    0: dict(n=(1, 2), dur=0.30, spread=0.3, revisits=(0, 0), per_revisit=(1, 1), rest=1.0),
    1: dict(n=(3, 4), dur=0.90, spread=0.25, revisits=(1, 2), per_revisit=(1, 2), rest=0.4),
    2: dict(n=(5, 7), dur=0.50, spread=1.6, revisits=(1, 2), per_revisit=(2, 3), rest=0.4),
    3: dict(n=(9, 12), dur=0.13, spread=0.9, revisits=(1, 1), per_revisit=(3, 5), rest=0.4),
}


def _search_points(reader: Reader, size: float) -> np.ndarray:
    g = reader.grid
    centres = (np.arange(g) + 0.5) * size / g
    pts = []
    for a in range(g):
        line = list(range(g))
        if reader.order == "snake" and a % 2:
            line.reverse()
        for b in line:
            pts.append((centres[b], centres[a]) if reader.order != "columns" else (centres[a], centres[b]))
    return np.asarray(pts, dtype=np.float64)


def _duration(rng: np.random.Generator, mean: float, spread: float = 0.3) -> float:
    return float(mean * np.exp(rng.normal(-0.5 * spread**2, spread)))


def _episode(rng, behaviour, spot, radius, finding: Finding | None, reader: Reader, size: float, n_range):
    """Fixations (x, y, duration) of one look at the spot."""
    spec = _BEHAVIOUR[behaviour]
    n = int(rng.integers(n_range[0], n_range[1] + 1))
    out = []
    # Calcification hops land on the dots when the image really has them.
    dots = None
    if behaviour == 3:  # hop between dots: the real ones, or ones the reader imagines (same distribution)
        real = finding is not None and finding.cls == 3
        dots = finding.points if real else calcification_dots(rng, spot[0], spot[1], radius)
    start_angle = rng.uniform(0, 2 * np.pi)
    for k in range(n):
        if dots is not None:
            x, y = dots[int(rng.integers(0, len(dots)))]
        elif behaviour == 2:  # walk round the margin
            ang = start_angle + 2 * np.pi * k / max(n, 1)
            x, y = spot[0] + spec["spread"] * radius * np.cos(ang), spot[1] + spec["spread"] * radius * np.sin(ang)
        else:
            x, y = spot + rng.normal(0, spec["spread"] * radius, 2)
        out.append((x, y, _duration(rng, spec["dur"] * reader.dwell_gain)))
    return out


def simulate_scanpath(
    rng: np.random.Generator,
    reader: Reader,
    finding: Finding | None,
    size: float,
    behaviour: int,
) -> np.ndarray:
    """(n, 3) array of x, y (image pixels) and duration (s) for one reading.

    `behaviour` is the class whose gaze pattern the reader shows (the true class when gaze is
    informative). `finding` is the image's real finding or None.
    """
    spec = _BEHAVIOUR[behaviour]
    uses_finding = finding is not None and behaviour != 0
    if uses_finding:
        spot = np.array([finding.x, finding.y])
        # The episode's extent follows the behaviour, not the image: a reader acting out another class
        # draws that class's typical extent, so extent says nothing about the true class when they differ.
        radius = finding.radius if finding.cls == behaviour else rng.uniform(*RADIUS_RANGE[behaviour]) * size / 64
    else:
        margin = 10 * size / 64
        spot = rng.uniform(margin, size - margin, 2)
        radius = (5.0 if behaviour == 0 else rng.uniform(*RADIUS_RANGE[behaviour])) * size / 64
    search = _search_points(reader, size)
    # The search reaches the spot at the grid cell nearest to it.
    hit = int(np.argmin(np.hypot(*(search - spot).T)))
    noise = reader.spatial_noise * size
    cell = size / reader.grid
    fixations: list[tuple[float, float, float]] = []

    def look(p):
        jitter = rng.normal(0, noise + 0.12 * cell, 2)
        fixations.append((p[0] + jitter[0], p[1] + jitter[1], _duration(rng, reader.pace)))

    for p in search[: hit + 1]:
        look(p)
    fixations.extend(_episode(rng, behaviour, spot, radius, finding, reader, size, spec["n"]))
    rest = search[hit + 1 :]
    # Having found something, readers finish the search more quickly (fewer cells).
    keep = rng.random(len(rest)) < spec["rest"]
    for p in rest[keep]:
        look(p)
    n_revisits = int(rng.integers(spec["revisits"][0], spec["revisits"][1] + 1))
    for _ in range(n_revisits):
        if rng.random() < 0.5 and len(search):  # a search fixation in between
            look(search[int(rng.integers(0, len(search)))])
        fixations.extend(_episode(rng, behaviour, spot, radius, finding, reader, size, spec["per_revisit"]))
    arr = np.asarray(fixations, dtype=np.float64)
    arr[:, :2] += rng.normal(0, noise, (len(arr), 2))
    arr[:, :2] = np.clip(arr[:, :2], 0.0, size)
    return arr


def behaviour_class(rng: np.random.Generator, label: int, informativeness: float) -> int:
    """The behaviour class of one reading: the true class with probability `informativeness`, else uniform.

    Always consumes the same two draws, so readings whose behaviour comes out the same are
    identical at every informativeness level.
    """
    if not 0.0 <= informativeness <= 1.0:
        raise ValueError(f"informativeness must be in [0, 1], got {informativeness}")
    u = rng.random()
    random_class = int(rng.integers(0, len(CLASS_NAMES)))
    return int(label) if u < informativeness else random_class
