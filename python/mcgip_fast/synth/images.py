"""Synthetic radiographs: anatomy-like texture plus one finding per image.

Each image is a sum of three background layers and, for abnormal classes, one finding:

* parenchyma: 1/f^beta noise (beta near 3 is the power law measured on mammograms),
* fibrous strands: a few thin curved lines of random sign,
* vessels: one to three bright curves as dense as the findings (so brightness is no clue),
* a smooth density gradient from a random side (the chest wall or skin line),
* the finding: a round mass, a spiculated mass or a calcification cluster, at a random
  position, size and contrast.

Every image is then rank-matched to the same Gaussian intensity profile and given its own
random window (gain and offset), so global intensity statistics (mean, spread, percentiles)
say nothing about the class; `finding_descriptor` returns where the finding
is, which the simulated reader uses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Class index -> name. Index 0 is the class without a finding.
CLASS_NAMES: tuple[str, ...] = ("normal", "round_mass", "spiculated_mass", "calcification_cluster")


#: Finding radius range per abnormal class, in pixels of a 64 px image (scaled with the image).
RADIUS_RANGE: dict[int, tuple[float, float]] = {1: (6.0, 10.0), 2: (3.5, 5.5), 3: (5.0, 9.0)}
#: Dots per calcification cluster (low, high inclusive).
CALC_DOTS: tuple[int, int] = (8, 16)


def calcification_dots(rng: np.random.Generator, cx: float, cy: float, r: float) -> np.ndarray:
    """(n, 2) dot centres spread uniformly over a disc of radius r."""
    n_dots = int(rng.integers(CALC_DOTS[0], CALC_DOTS[1] + 1))
    rad = r * np.sqrt(rng.uniform(0, 1, n_dots))
    ang = rng.uniform(0, 2 * np.pi, n_dots)
    return np.stack([cx + rad * np.cos(ang), cy + rad * np.sin(ang)], axis=1)


@dataclass(frozen=True)
class Finding:
    """Where a finding is, in image pixels (x = column, y = row), and its extent."""

    cls: int
    x: float
    y: float
    radius: float
    #: For calcification clusters: the (n, 2) dot centres; for spiculated masses: the spicule tips.
    points: np.ndarray
    contrast: float


def _power_law_noise(rng: np.random.Generator, size: int, beta: float) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.hypot(fx, fy)
    f[0, 0] = 1.0
    amplitude = f ** (-beta / 2.0)
    amplitude[0, 0] = 0.0
    spectrum = amplitude * (rng.standard_normal(f.shape) + 1j * rng.standard_normal(f.shape))
    field = np.fft.irfft2(spectrum, s=(size, size))
    return (field - field.mean()) / (field.std() + 1e-12)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return xx, yy


def _segment_distance(xx, yy, x0, y0, x1, y1) -> np.ndarray:
    """Distance from every pixel to the segment (x0, y0)-(x1, y1)."""
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-12), 0.0, 1.0)
    return np.hypot(xx - (x0 + t * dx), yy - (y0 + t * dy))


def _strands(rng: np.random.Generator, size: int, xx, yy) -> np.ndarray:
    out = np.zeros((size, size))
    for _ in range(int(rng.integers(3, 8))):
        profile = _curve(rng, size, xx, yy, (0.5, 1.1))  # drawn first: keeps the archive's random stream
        out += rng.choice([-1.0, 1.0]) * rng.uniform(0.4, 1.0) * profile
    return out


def _curve(rng: np.random.Generator, size: int, xx, yy, width_range: tuple[float, float]) -> np.ndarray:
    """A random quadratic Bezier curve with a Gaussian cross-section, peak 1 (drawn as 8 segments)."""
    p = rng.uniform(-0.1 * size, 1.1 * size, size=(3, 2))
    t = np.linspace(0.0, 1.0, 9)[:, None]
    curve = (1 - t) ** 2 * p[0] + 2 * (1 - t) * t * p[1] + t**2 * p[2]
    width = rng.uniform(*width_range) * size / 64
    dist = np.full((size, size), np.inf)
    for a, b in zip(curve[:-1], curve[1:]):
        dist = np.minimum(dist, _segment_distance(xx, yy, a[0], a[1], b[0], b[1]))
    return np.exp(-0.5 * (dist / width) ** 2)


def _gradient(rng: np.random.Generator, size: int, xx, yy) -> np.ndarray:
    angle = rng.uniform(0, 2 * np.pi)
    u = ((xx - size / 2) * np.cos(angle) + (yy - size / 2) * np.sin(angle)) / size
    return rng.uniform(0.5, 1.5) * np.tanh(3 * u)


def vessels(rng: np.random.Generator, size: int, contrast_range: tuple[float, float]) -> np.ndarray:
    """Bright curvilinear vessels, as dense as findings, in every image (normal ones too).

    Without them the brightest pixels would give the abnormal classes away; with them, global
    intensity statistics carry little class information and only shape tells a finding apart.
    """
    xx, yy = _grid(size)
    out = np.zeros((size, size))
    for _ in range(int(rng.integers(1, 4))):
        profile = _curve(rng, size, xx, yy, (0.7, 1.2))
        out = np.maximum(out, rng.uniform(0.6, 1.0) * rng.uniform(*contrast_range) * profile)
    return out


def background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Zero-mean, unit-spread anatomy-like texture of shape (size, size)."""
    xx, yy = _grid(size)
    img = _power_law_noise(rng, size, rng.uniform(2.6, 3.4))
    img += 0.5 * _strands(rng, size, xx, yy)
    img += _gradient(rng, size, xx, yy)
    return (img - img.mean()) / (img.std() + 1e-12)


def draw_finding(
    rng: np.random.Generator, cls: int, size: int, contrast_range: tuple[float, float]
) -> tuple[np.ndarray, Finding | None]:
    """The finding layer for class `cls` (zeros for normal) and its descriptor."""
    layer = np.zeros((size, size))
    if cls == 0:
        return layer, None
    xx, yy = _grid(size)
    s = size / 64  # sizes below are given for 64 px images
    margin = 10 * s
    cx, cy = rng.uniform(margin, size - margin, size=2)
    contrast = rng.uniform(*contrast_range)
    if cls == 1:  # round mass: a smooth dome with a soft edge
        r = rng.uniform(*RADIUS_RANGE[1]) * s
        d = np.hypot(xx - cx, yy - cy) / r
        layer = np.clip(1 - d**2, 0, None) ** 0.5
        layer = layer + 0.3 * np.exp(-0.5 * (d / 1.1) ** 2)  # halo
        points = np.array([[cx, cy]])
    elif cls == 2:  # spiculated mass: a small dense core with radiating thin lines
        r = rng.uniform(*RADIUS_RANGE[2]) * s
        d = np.hypot(xx - cx, yy - cy) / r
        layer = np.clip(1 - d**2, 0, None) ** 0.5
        n_spicules = int(rng.integers(7, 13))
        angles = rng.uniform(0, 2 * np.pi) + np.linspace(0, 2 * np.pi, n_spicules, endpoint=False)
        angles = angles + rng.normal(0, 0.25, n_spicules)
        lengths = r * rng.uniform(2.0, 3.2, n_spicules)
        tips = np.stack([cx + lengths * np.cos(angles), cy + lengths * np.sin(angles)], axis=1)
        width = 0.75 * s
        for (tx, ty) in tips:
            dist = _segment_distance(xx, yy, cx, cy, tx, ty)
            along = np.hypot(xx - cx, yy - cy) / np.hypot(tx - cx, ty - cy)
            layer = np.maximum(layer, 0.75 * np.exp(-0.5 * (dist / width) ** 2) * np.clip(1.2 - along, 0, 1))
        points = tips
    elif cls == 3:  # calcification cluster: tiny bright dots
        r = rng.uniform(*RADIUS_RANGE[3]) * s
        points = calcification_dots(rng, cx, cy, r)
        for (px, py) in points:
            sigma = rng.uniform(0.7, 1.1) * s
            layer = np.maximum(layer, np.exp(-0.5 * ((xx - px) ** 2 + (yy - py) ** 2) / sigma**2))
        layer *= 1.25  # small dots need a little more contrast to be seen at all
    else:
        raise ValueError(f"class index {cls} is not one of 0..{len(CLASS_NAMES) - 1}")
    return contrast * layer, Finding(cls, float(cx), float(cy), float(r), points, float(contrast))


def render_image(
    rng: np.random.Generator,
    cls: int,
    size: int,
    contrast_range: tuple[float, float] = (2.5, 4.5),
    noise: float = 0.15,
) -> tuple[np.ndarray, Finding | None]:
    """One uint8 image of shape (size, size) with a finding of class `cls`."""
    img = background(rng, size) + vessels(rng, size, contrast_range)
    layer, finding = draw_finding(rng, cls, size, contrast_range)
    img = img + layer + noise * rng.standard_normal((size, size))
    # Histogram-match every image to the same Gaussian profile, then apply a random window: the
    # intensity histogram (mean, spread, percentiles) is then the same for every class up to the
    # window, and only the spatial arrangement tells a finding apart.
    img = _gaussianise(img)
    gain = rng.uniform(0.09, 0.13)
    offset = rng.uniform(0.42, 0.58)
    out = np.clip(offset + gain * img, 0.0, 1.0)
    return np.round(out * 255).astype(np.uint8), finding


def _gaussianise(img: np.ndarray) -> np.ndarray:
    """Rank-transform the pixels to standard normal quantiles (ties broken by position)."""
    from scipy.special import ndtri

    flat = img.ravel()
    ranks = np.empty(flat.size)
    ranks[np.argsort(flat, kind="stable")] = np.arange(flat.size)
    return ndtri((ranks + 0.5) / flat.size).reshape(img.shape)
