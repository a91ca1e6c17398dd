"""ResNet-18/50 encoders (torchvision blocks) with 1-channel input and an optional base width.

With the default base width of 64 the layers, names and shapes are exactly torchvision's
`resnet18` / `resnet50`, so their state dicts load (pass a local file: nothing is downloaded).
A smaller base width (e.g. 8) gives a tiny ResNet that trains quickly on a CPU; "resnet10" (one
block per stage) with the "small-pool" stem and global max pooling is the small-image,
small-finding variant the demo uses.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from torchvision.models.resnet import BasicBlock, Bottleneck

from mcgip_fast.train.config import POOL_NAMES as POOLS
from mcgip_fast.train.config import STEM_NAMES as STEMS

__all__ = ["BACKBONES", "POOLS", "STEMS", "ResNetEncoder", "build_backbone", "load_backbone_weights", "clean_state_dict"]

BACKBONES = {"resnet10": (BasicBlock, (1, 1, 1, 1)), "resnet18": (BasicBlock, (2, 2, 2, 2)),
             "resnet50": (Bottleneck, (3, 4, 6, 3))}



class ResNetEncoder(nn.Module):
    """torchvision's ResNet without its classifier: images (N, C, H, W) -> features (N, feature_dim)."""

    def __init__(self, name: str = "resnet18", in_channels: int = 1, width: int | None = None, stem: str = "imagenet",
                 pool: str = "avg") -> None:
        super().__init__()
        if name not in BACKBONES:
            raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {name!r}")
        if stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {stem!r}")
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        width = 64 if width is None else int(width)
        if width < 1 or in_channels < 1:
            raise ValueError(f"width and in_channels must be positive, got {width} and {in_channels}")
        block, layers = BACKBONES[name]
        self.name, self.in_channels, self.width, self.stem, self.pool = name, in_channels, width, stem, pool
        self.inplanes = width
        self.dilation, self.groups, self.base_width = 1, 1, 64
        self._norm_layer = nn.BatchNorm2d
        if stem == "imagenet":
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=7, stride=2, padding=3, bias=False)
            self.maxpool: nn.Module = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        else:
            # Small images (CIFAR-style, as in SimCLR): a 7x7/2 conv plus max-pool would erase
            # findings only a few pixels across before the first residual block sees them.
            self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
            # The 2x2 max-pool keeps a dot's peak response while quartering the cost of every later layer.
            self.maxpool = nn.MaxPool2d(kernel_size=2, stride=2) if stem == "small-pool" else nn.Identity()
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        # Max pooling answers "is the pattern anywhere in the image": a finding a few pixels across
        # is diluted away by averaging over a background that covers 99% of the map.
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1)) if pool == "avg" else nn.AdaptiveMaxPool2d((1, 1))
        self.feature_dim = width * 8 * block.expansion
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


def clean_state_dict(state: dict) -> dict:
    """Unwrap common checkpoint layouts and drop classifier / DDP prefixes."""
    for key in ("encoder", "backbone", "state_dict", "model"):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "backbone.", "encoder."):
            if k.startswith(prefix):
                k = k[len(prefix) :]
        if k.startswith("fc."):
            continue
        out[k] = v
    return out


def load_backbone_weights(model: ResNetEncoder, path: str | Path) -> ResNetEncoder:
    """Load a local state dict (torchvision or ours) into `model`, safely (`weights_only=True`).

    RGB first-layer weights are summed over colour channels when the model takes 1 channel.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such weights file (pretrained weights load only from a local file)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle errors, truncated files
        raise ValueError(f"{path}: not a loadable state dict ({e})") from e
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    state = clean_state_dict(state)
    w = state.get("conv1.weight")
    if w is not None and w.ndim == 4 and w.shape[1] != model.in_channels:
        if model.in_channels == 1:
            state["conv1.weight"] = w.sum(dim=1, keepdim=True)
        else:
            raise ValueError(f"{path}: first layer takes {w.shape[1]} channels, model takes {model.in_channels}")
    own = model.state_dict()
    wrong = [k for k, v in state.items() if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        k = wrong[0]
        raise ValueError(f"{path}: weights do not fit {model.name} (width {model.width}): {len(wrong)} tensors have "
                         f"other shapes (e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"{path}: weights do not fit {model.name} (width {model.width}): "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )
    return model


def build_backbone(
    name: str = "resnet18",
    in_channels: int = 1,
    width: int | None = None,
    weights: str | Path | None = None,
    stem: str = "imagenet",
    pool: str = "avg",
) -> ResNetEncoder:
    """A ResNet encoder; `weights` is an optional local state-dict file."""
    model = ResNetEncoder(name, in_channels, width, stem, pool)
    if weights is not None:
        load_backbone_weights(model, weights)
    return model
