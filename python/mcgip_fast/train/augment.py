"""Augmentations for greyscale radiographs, driven by an explicit torch.Generator.

Random resized crop, horizontal flip, brightness/contrast jitter and Gaussian blur; no hue or
saturation jitter (there is no colour). Every random draw comes from the generator passed in, so
a view depends only on (seed, epoch, image, view): the same with any number of DataLoader
workers, and the same after a resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torchvision.transforms.v2.functional as TF

__all__ = ["GreyAugment", "eval_transform", "sample_seed"]


def sample_seed(seed: int, epoch: int, index: int, view: int) -> int:
    """A 63-bit seed unique to (run seed, epoch, image, view)."""
    h = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB + view * 0x2545F4914F6CDD1D)
    return h & ((1 << 63) - 1)


def _u(g: torch.Generator, lo: float = 0.0, hi: float = 1.0) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=g))


@dataclass
class GreyAugment:
    """Two-view augmentation pipeline (MoCo v2 / SimCLR recipe without colour).

    Args:
        size: output side in pixels.
        min_scale: smallest crop area fraction.
        flip_p: horizontal flip probability.
        jitter_p, brightness, contrast: with probability jitter_p, scale brightness by
            U(1-b, 1+b) and contrast by U(1-c, 1+c).
        blur_p, sigma: with probability blur_p, Gaussian blur with sigma ~ U(sigma) (scaled by size/224).
    """

    size: int
    min_scale: float = 0.2
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    blur_p: float = 0.5
    sigma: tuple[float, float] = (0.1, 2.0)

    def crop_box(self, h: int, w: int, g: torch.Generator) -> tuple[int, int, int, int]:
        """torchvision's RandomResizedCrop parameters (10 tries, then a centre crop)."""
        area = h * w
        log_r = (math.log(3 / 4), math.log(4 / 3))
        for _ in range(10):
            target = area * _u(g, self.min_scale, 1.0)
            ratio = math.exp(_u(g, *log_r))
            cw = int(round(math.sqrt(target * ratio)))
            ch = int(round(math.sqrt(target / ratio)))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, (), generator=g))
                left = int(torch.randint(0, w - cw + 1, (), generator=g))
                return top, left, ch, cw
        side = min(h, w)
        return (h - side) // 2, (w - side) // 2, side, side

    def __call__(self, img: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        """img: (C, H, W) float in [0, 1] -> (C, size, size) float in [0, 1]."""
        top, left, ch, cw = self.crop_box(img.shape[-2], img.shape[-1], g)
        x = TF.resized_crop(img, top, left, ch, cw, [self.size, self.size], antialias=True)
        if _u(g) < self.flip_p:
            x = x.flip(-1)
        if _u(g) < self.jitter_p:
            b = _u(g, 1 - self.brightness, 1 + self.brightness)
            c = _u(g, 1 - self.contrast, 1 + self.contrast)
            x = (x * b).clamp(0, 1)
            mean = x.mean()
            x = ((x - mean) * c + mean).clamp(0, 1)
        if _u(g) < self.blur_p:
            sigma = _u(g, *self.sigma) * self.size / 224
            k = max(3, int(2 * math.ceil(3 * sigma) + 1))
            k = min(k, self.size - 1 if self.size % 2 == 0 else self.size)
            if k >= 3 and sigma > 0:
                x = TF.gaussian_blur(x, [k | 1, k | 1], [sigma, sigma])
        return x.contiguous()


def eval_transform(img: torch.Tensor, size: int) -> torch.Tensor:
    """Deterministic view for probes: resize the shorter side to `size`, centre-crop a square."""
    x = TF.resize(img, [size], antialias=True)
    return TF.center_crop(x, [size, size]).contiguous()
