"""PyTorch's side of bench/train/run.sh: times training steps (forward, loss, backward and an
AdamW update; no data loading, as crates/train/examples/step_time.rs) of MobileNetV2 1.0-224 with 5 classes (the
torchvision layer structure, written out here so that only torch is needed).

    python torch_step.py BATCH THREADS STEPS [channels_last|nchw]

Prints one line per step: `step SECONDS`."""

import sys
import time

import torch
from torch import nn


def conv_bn(cin, cout, k, stride, groups=1, relu=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if relu:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, t):
        super().__init__()
        hidden = cin * t
        layers = [conv_bn(cin, hidden, 1, 1)] if t != 1 else []
        layers += [conv_bn(hidden, hidden, 3, stride, groups=hidden), conv_bn(hidden, cout, 1, 1, relu=False)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def mobilenet_v2(classes):
    layers, cin = [conv_bn(3, 32, 3, 2)], 32
    for t, c, n, s in [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]:
        for i in range(n):
            layers.append(Block(cin, c, s if i == 0 else 1, t))
            cin = c
    layers += [conv_bn(320, 1280, 1, 1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, classes)]
    return nn.Sequential(*layers)


def main():
    batch, threads, steps = (int(a) for a in sys.argv[1:4])
    layout = sys.argv[4] if len(sys.argv) > 4 else "channels_last"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    net = mobilenet_v2(5).to(memory_format=fmt).train()
    x = torch.randn(batch, 3, 224, 224).to(memory_format=fmt)
    y = torch.arange(batch) % 5
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=4e-5)
    for _ in range(steps):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=False)
        loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()
        print(f"step {time.perf_counter() - start:.4f}", flush=True)


if __name__ == "__main__":
    main()
