"""ResNet-10-T, the specialist's backbone, without importing timm.

Why not ``timm.create_model("resnet10t")``: importing timm imports torchvision, whose ``ops`` import
``torch._dynamo``; that is about 3 s of every process start, more than the verification of a short
clip, paid by every ``kinoseal verify`` and every isolated verification child. This module builds the
same network: the same parameter names (a timm checkpoint loads as is), the same
forward arithmetic, and, under one ``torch.manual_seed``, the same initial weights (modules are created
in timm's order and re-initialised as timm does), so training is unchanged too.
``tests/test_detect.py`` checks all three against timm. Other timm backbones still come from timm.

timm's ``resnet10t`` (``timm/models/resnet.py``, 1.0): a deep "tiered" stem (three 3x3 convolutions,
3/4 of the stem width, then the stem width, then twice it), a 3x3 max pool, four stages of one
``BasicBlock`` each with average-pool shortcuts ("avg_down"), global average pooling and a linear head.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BasicBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int, downsample: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = self.act1(self.bn1(self.conv1(x)))
        x = self.bn2(self.conv2(x))
        x += shortcut
        return self.act2(x)


def _shortcut(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    pool = nn.Identity() if stride == 1 else nn.AvgPool2d(2, stride, ceil_mode=True, count_include_pad=False)
    return nn.Sequential(pool, nn.Conv2d(inplanes, planes, 1, bias=False), nn.BatchNorm2d(planes))


class ResNet10T(nn.Module):
    """timm's ``resnet10t(pretrained=False, num_classes, in_chans, channels, stem_width)``, with the
    methods kinoseal calls: ``forward_features``, ``forward_head(pre_logits=...)``, ``get_classifier``."""

    def __init__(self, num_classes: int = 1000, in_chans: int = 3, channels=(64, 128, 256, 512),
                 stem_width: int = 32) -> None:
        super().__init__()
        stem = (3 * (stem_width // 4), stem_width)
        inplanes = 2 * stem_width
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_chans, stem[0], 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(stem[0]), nn.ReLU(inplace=True),
            nn.Conv2d(stem[0], stem[1], 3, padding=1, bias=False), nn.BatchNorm2d(stem[1]), nn.ReLU(inplace=True),
            nn.Conv2d(stem[1], inplanes, 3, padding=1, bias=False))
        self.bn1 = nn.BatchNorm2d(inplanes)
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        for i, planes in enumerate(channels):
            stride = 1 if i == 0 else 2
            # timm creates the shortcut before the block: the order matters for the random initial weights
            down = _shortcut(inplanes, planes, stride) if stride != 1 or inplanes != planes else None
            self.add_module(f"layer{i + 1}", nn.Sequential(BasicBlock(inplanes, planes, stride, down)))
            inplanes = planes
        self.num_features = int(channels[-1])
        self.num_classes = num_classes
        self.fc = nn.Linear(self.num_features, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            if isinstance(m, BasicBlock):
                m.zero_init_last()

    def get_classifier(self) -> nn.Module:
        return self.fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return x if pre_logits else self.fc(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


__all__ = ["ResNet10T"]
