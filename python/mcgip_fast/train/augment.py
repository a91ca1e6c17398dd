"""Augmentations for greyscale radiographs: per-view parameters drawn per sample, applied to whole batches.

Random resized crop, horizontal flip, brightness/contrast jitter, Gaussian blur and solarisation;
no hue or saturation jitter (there is no colour).

Two stages, so the heavy part runs on the training device:

1. `GreyAugment.draw(g, height, width)` draws one view's parameters from a torch.Generator
   seeded by `sample_seed(seed, epoch, image, view)` (a few scalars, in the DataLoader). A view
   therefore depends only on (seed, epoch, image, view): the same with any number of workers,
   and the same after a resume.
2. `GreyAugment.apply(x, params)` applies them to a whole batch on its device (GPU or CPU):
   `crop_resize` (one batched `grid_sample`) when `x` holds whole cached images, then flip,
   jitter, blur and solarise as batched tensor ops.

Crop boxes are fractions of the original image, so the same parameters cut the same region from
a full-size file or from its resized copy in a cache (`mcgip prepare`); only resampling differs.
torchvision's v2 transforms apply one set of parameters to a whole batch, so the per-sample
stage is written here with `torch.nn.functional` (grid_sample, grouped conv2d).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF

__all__ = ["GreyAugment", "eval_transform", "sample_seed", "crop_resize", "crop_pixels", "centre_box", "PARAM_NAMES"]

#: Layout of one view's parameter vector (float32). Boxes are fractions of the original image.
PARAM_NAMES = ("top", "left", "height", "width", "flip", "jitter", "brightness", "contrast", "blur", "sigma", "solarize")
_P = {name: k for k, name in enumerate(PARAM_NAMES)}
#: uniforms drawn per view: 10 crop tries x (area, ratio), top, left, then one per remaining decision
_N_TRIES = 10
_N_UNIFORMS = 2 * _N_TRIES + 2 + 7


def sample_seed(seed: int, epoch: int, index: int, view: int) -> int:
    """A 63-bit seed unique to (run seed, epoch, image, view)."""
    h = (seed * 0x9E3779B97F4A7C15 + epoch * 0xBF58476D1CE4E5B9 + index * 0x94D049BB133111EB + view * 0x2545F4914F6CDD1D)
    return h & ((1 << 63) - 1)


def centre_box(height: int, width: int) -> tuple[float, float, float, float]:
    """The centred square of side min(h, w), as fractions (top, left, height, width)."""
    side = min(height, width)
    return (height - side) / 2 / height, (width - side) / 2 / width, side / height, side / width


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
        solarize_p: with this probability, invert pixels >= 0.5 (BYOL's solarisation; 0 = off).
    """

    size: int
    min_scale: float = 0.2
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    blur_p: float = 0.5
    sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0

    # ------------------------------------------------------------------ stage 1: parameters
    def draw(self, g: torch.Generator, height: int, width: int) -> torch.Tensor:
        """One view's parameters (`PARAM_NAMES`) for an original image of height x width.

        The crop follows torchvision's RandomResizedCrop (10 tries, then a centre crop) in
        continuous coordinates, so it does not depend on the resolution it is applied at.
        """
        u = torch.rand(_N_UNIFORMS, generator=g, dtype=torch.float64).tolist()
        area = height * width
        lo, hi = math.log(3 / 4), math.log(4 / 3)
        box = None
        for t in range(_N_TRIES):
            target = area * (self.min_scale + (1.0 - self.min_scale) * u[2 * t])
            ratio = math.exp(lo + (hi - lo) * u[2 * t + 1])
            cw, ch = math.sqrt(target * ratio), math.sqrt(target / ratio)
            if cw <= width and ch <= height:
                top, left = u[2 * _N_TRIES] * (height - ch), u[2 * _N_TRIES + 1] * (width - cw)
                box = (top / height, left / width, ch / height, cw / width)
                break
        if box is None:
            box = centre_box(height, width)
        r = u[2 * _N_TRIES + 2:]
        s_lo, s_hi = self.sigma
        return torch.tensor([
            *box,
            float(r[0] < self.flip_p),
            float(r[1] < self.jitter_p), 1 + self.brightness * (2 * r[2] - 1), 1 + self.contrast * (2 * r[3] - 1),
            float(r[4] < self.blur_p), (s_lo + (s_hi - s_lo) * r[5]) * self.size / 224,
            float(r[6] < self.solarize_p),
        ], dtype=torch.float32)

    # ------------------------------------------------------------------ stage 2: batched
    def apply(self, x: torch.Tensor, params: torch.Tensor) -> torch.Tensor:
        """x: (B, C, H, W) float in [0, 1] on any device; params: (B, len(PARAM_NAMES)).

        If x is not yet `size` x `size` (whole cached images), the crop (and flip) is cut and
        resized here; otherwise x holds crops already cut (from full-size files) and only the
        rest is applied.
        """
        # Which steps any sample needs, read before the move: free when params are on the host.
        needed = (params[:, [_P["jitter"], _P["blur"], _P["solarize"]]] > 0).any(0).tolist()
        params = params.to(x.device, torch.float32)
        flip = params[:, _P["flip"]] > 0
        if x.shape[-2:] != (self.size, self.size):
            x = crop_resize(x, params[:, :4], self.size, flip=flip)
        else:
            x = x.clone()  # the rest works in place
            if flip.any():
                x[flip] = x[flip].flip(-1)
        return self.photometric(x, params, needed)

    def photometric(self, x: torch.Tensor, params: torch.Tensor, needed: list[bool] | None = None) -> torch.Tensor:
        """Jitter, blur, solarise; each only where its flag is set (x may be overwritten).

        Jitter and solarisation run on the whole batch with identity parameters where the flag is
        off (x * 1 + 0 is exact), which is cheaper than gathering the flagged samples and needs no
        host sync on a GPU. Blur, the costly one, runs on the flagged samples only. `needed`
        (jitter, blur, solarise: does any sample use it) skips a step no sample uses."""
        jitter, blur, solarize = needed if needed is not None else (True, True, True)
        on = params[:, _P["jitter"]] > 0
        if jitter:
            one = torch.ones_like(params[:, 0])
            b = torch.where(on, params[:, _P["brightness"]], one).view(-1, 1, 1, 1)
            c = torch.where(on, params[:, _P["contrast"]], one).view(-1, 1, 1, 1)
            x.mul_(b).clamp_(0, 1)
            # contrast around the mean m: x c + m (1 - c), which is x itself when c = 1
            shift = x.mean(dim=(1, 2, 3), keepdim=True).mul_(1 - c)
            torch.addcmul(shift, x, c, out=x).clamp_(0, 1)
        on = params[:, _P["blur"]] > 0
        if blur and on.any():
            x[on] = self._blur(x[on], params[on, _P["sigma"]])
        if solarize:
            on = (params[:, _P["solarize"]] > 0).view(-1, 1, 1, 1)
            x = torch.where(on & (x >= 0.5), 1.0 - x, x)
        return x

    def _blur(self, x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian blur, one sigma per sample, reflect padding (torchvision's), as two
        batched matrix products K x K^T: on a CPU far faster than a grouped convolution, on a GPU
        one bmm. The kernel radius is 3 x the largest sigma possible."""
        n, c, h, w = x.shape
        radius = max(1, min(math.ceil(3 * self.sigma[1] * self.size / 224), min(h, w) - 1))
        taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        k = torch.exp(-0.5 * (taps[None, :] / sigma[:, None].to(x.dtype).clamp_min(1e-3)) ** 2)
        k = k / k.sum(1, keepdim=True)  # (n, taps)
        rows = _reflect_matrix(k, h, radius)
        cols = rows if w == h else _reflect_matrix(k, w, radius)
        return (rows[:, None] @ x @ cols[:, None].transpose(-1, -2)).contiguous()


def _reflect_matrix(k: torch.Tensor, length: int, radius: int) -> torch.Tensor:
    """(n, length, length) matrices M with (M v)[i] = sum_t k[t] v[reflect(i + t)]."""
    n = k.shape[0]
    i = torch.arange(length, device=k.device)[:, None] + torch.arange(-radius, radius + 1, device=k.device)[None, :]
    i = torch.where(i < 0, -i, i)
    i = torch.where(i > length - 1, 2 * (length - 1) - i, i)  # (length, taps)
    m = torch.zeros(n, length, length, device=k.device, dtype=k.dtype)
    return m.scatter_add_(2, i[None].expand(n, -1, -1), k[:, None, :].expand(-1, length, -1))


def crop_resize(x: torch.Tensor, boxes: torch.Tensor, size: int, flip: torch.Tensor | None = None) -> torch.Tensor:
    """Cut a box (fractions top, left, height, width) from each image and resize it to size x size,
    mirrored where `flip`: one bilinear `grid_sample` for the whole batch. It does not antialias,
    so the source should not be much larger than the crops (a cache of side about 8/7 x size,
    `mcgip prepare`'s default)."""
    n = x.shape[0]
    top, left, bh, bw = boxes.to(x.dtype).unbind(1)
    # output pixel centres in [-1, 1] (align_corners=False), mapped into each box
    u = (torch.arange(size, device=x.device, dtype=x.dtype) + 0.5) * (2.0 / size) - 1.0
    sx = bw if flip is None else torch.where(flip, -bw, bw)
    gx = (2 * left + bw - 1)[:, None] + sx[:, None] * u[None, :]
    gy = (2 * top + bh - 1)[:, None] + bh[:, None] * u[None, :]
    grid = torch.stack([gx[:, None, :].expand(n, size, size), gy[:, :, None].expand(n, size, size)], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def crop_pixels(img: torch.Tensor, box: torch.Tensor | tuple, size: int) -> torch.Tensor:
    """One image (C, H, W), a fractional box -> (C, size, size), antialiased (torchvision's
    resized_crop): the same region `crop_resize` cuts from a cached copy, at full resolution."""
    h, w = img.shape[-2:]
    top, left, bh, bw = (float(v) for v in box[:4])
    t, lft = int(round(top * h)), int(round(left * w))
    ch, cw = max(1, min(h - t, int(round(bh * h)))), max(1, min(w - lft, int(round(bw * w))))
    return TF.resized_crop(img, t, lft, ch, cw, [size, size], antialias=True)


def eval_transform(img: torch.Tensor, size: int) -> torch.Tensor:
    """Deterministic view for probes: resize the shorter side to `size`, centre-crop a square."""
    x = TF.resize(img, [size], antialias=True)
    return TF.center_crop(x, [size, size]).contiguous()
