"""Train the learned method's network and write it as ONNX (one command, deterministic seed).

The network (:class:`ThresholdNet`) reads the quarter-resolution channels of
:class:`livethresh.binarize.learned.Inputs` (block mean, darkest, brightest, paper near and
far, the frame's ink level) and predicts a gray threshold ``T`` and a sharpness
``s`` per 4x4 block; the loss is taken at full resolution on ``sigmoid(s * (T - gray))`` with
``T`` and ``s`` bilinearly upsampled, as the method thresholds. Training pages are the DIBCO
2009-2014 pages (``YEAR/NAME.png`` beside ``YEAR/NAME_gt.png``), cut into random crops scaled
by 0.5 to 2 and degraded like camera frames: uneven light, shadows, lower contrast, gamma,
blur, noise, JPEG.

Rebuild the shipped weights (about 9 minutes on a free core; the defaults are the shipped
recipe, seed 0)::

    pip install torch==2.13.0 onnx   # 2.13.0 is the CPU build on this project's machines;
                                     # a plain `pip install torch` may pull a CUDA build of GBs
    python benchmarks/train_learned.py   # -> livethresh/binarize/weights/learned.onnx

A leave-one-year-out fold (``benchmarks/evaluate_loyo.py`` scores it)::

    python benchmarks/train_learned.py --holdout 2012   # -> benchmarks/results/learned-2012.onnx

Training needs torch and onnx (the ``train`` extra); running livethresh does not.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from livethresh.binarize.learned import CHANNELS, GRID, REDUCTION, Inputs, ink_level
from livethresh.images import read_gray

ROOT = Path(__file__).resolve().parents[1]
YEARS = (2009, 2010, 2011, 2012, 2013, 2014)


def conv(inputs: int, outputs: int, size: int = 3, stride: int = 1, dilation: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inputs, outputs, size, stride, dilation * (size // 2), dilation=dilation)


class ThresholdNet(nn.Module):
    """A two-level U-Net over the quarter-resolution channels; ``T`` and ``s`` per block.

    ``T`` is a fraction of the far paper channel (the classical prior: ink is darker than the
    paper around it), so an untrained net already thresholds near background division.
    """

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        features, deep = 10, 2 * width
        self.down1, self.mid1 = conv(features, width, stride=2), conv(width, width)
        self.down2, self.mid2 = conv(width, deep, stride=2), conv(deep, deep, dilation=2)
        self.up1, self.up1b = conv(deep + width, width, 1), conv(width, width)
        self.head8 = conv(width, 4, 1)
        self.fuse, self.head = conv(4 + features, 8, 1), conv(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        relu = F.relu
        mean, darkest, brightest, paper, far = (x[:, i : i + 1] for i in range(5))
        level = x[:, 5:6]  # the frame's ink level over the far paper
        over_paper, over_far = 1.0 / (paper + 0.02), 1.0 / (far + 0.02)
        # Gray over paper in units of the frame's ink depth: the page's ink near 0, paper 1.
        depth = (mean * over_far - level) / (1.02 - level)
        # Darkness (1 - gray): the convolutions' zero padding then reads as paper.
        f0 = torch.cat(
            [1 - mean, 1 - darkest, 1 - brightest, 1 - paper, 1 - far, 1 - mean * over_paper,
             1 - darkest * over_paper, 1 - mean * over_far, 1 - level, 1 - depth],
            1,
        )  # fmt: skip
        f1 = relu(self.mid1(relu(self.down1(f0))))
        f2 = relu(self.mid2(relu(self.down2(f1))))
        u1 = F.interpolate(f2, scale_factor=2.0, mode="bilinear", align_corners=False)
        u1 = relu(self.up1b(relu(self.up1(torch.cat([u1, f1], 1)))))
        u0 = F.interpolate(self.head8(u1), scale_factor=2.0, mode="bilinear", align_corners=False)
        z = self.head(relu(self.fuse(torch.cat([u0, f0], 1))))
        return torch.cat([far * torch.sigmoid(z[:, 0:1] + 1.0), torch.exp(z[:, 1:2] + 3.0)], 1)


def full_logits(out: torch.Tensor, gray: torch.Tensor) -> torch.Tensor:
    """Ink logits at full resolution: ``s * (T - gray)``, both upsampled like the method does."""
    up = F.interpolate(out, scale_factor=float(REDUCTION), mode="bilinear", align_corners=False)
    return up[:, 1:2] * (up[:, 0:1] - gray)


def load_pages(data: Path, years: list[int]) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, gray, ink)`` of every page of ``years`` under ``data``."""
    pages = []
    for year in years:
        for truth_path in sorted((data / str(year)).glob("*_gt.png")):
            page = truth_path.with_name(truth_path.name.replace("_gt", ""))
            pages.append((page.stem, read_gray(page), read_gray(truth_path) < 128))
    if not pages:
        raise SystemExit(f"no pages with ground truth under {data} for years {years}")
    return pages


class Crops:
    """Random degraded crops of the training pages, with their truth."""

    def __init__(
        self,
        pages: list[tuple[str, np.ndarray, np.ndarray]],
        size: int,
        seed: int,
        clean: float = 0.0,
        native: float = 0.0,
    ):
        self.pages, self.size, self.clean, self.native = pages, size, clean, native
        self.rng = np.random.default_rng(seed)
        areas = np.array([math.sqrt(p[1].size) for p in pages])
        self.weights = areas / areas.sum()
        self.inputs = Inputs((size, size))

    def sample(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        rng, size = self.rng, self.size
        _, gray, ink = self.pages[rng.choice(len(self.pages), p=self.weights)]
        # Scales from 0.5 to 2 (strokes of 1 to 30 pixels), a share of them near the scan's own.
        spread = math.log(1.25) if rng.random() < self.native else math.log(2.0)
        scale = math.exp(rng.uniform(-spread, spread))
        side = max(4, round(size / scale))
        pad_y, pad_x = max(0, side - gray.shape[0]), max(0, side - gray.shape[1])
        if pad_y or pad_x:
            gray = cv2.copyMakeBorder(gray, 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT)
            ink = cv2.copyMakeBorder(ink.astype(np.uint8), 0, pad_y, 0, pad_x, cv2.BORDER_REFLECT)
        y = rng.integers(0, gray.shape[0] - side + 1)
        x = rng.integers(0, gray.shape[1] - side + 1)
        crop = gray[y : y + side, x : x + side].astype(np.float32)
        truth = ink[y : y + side, x : x + side].astype(np.float32)
        how = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
        crop = cv2.resize(crop, (size, size), interpolation=how)
        truth = cv2.resize(truth, (size, size), interpolation=how) > 0.5
        if rng.random() < 0.5:
            crop, truth = crop[:, ::-1], truth[:, ::-1]
        if rng.random() < 0.3:
            crop, truth = crop.T, truth.T
        crop = np.ascontiguousarray(crop)
        if rng.random() < self.clean:  # as scanned
            page = np.clip(crop + 0.5, 0, 255).astype(np.uint8)
        else:
            page = degrade(crop, rng)
        self.inputs(page)
        level = ink_level(self.inputs.histogram(slice(None)))
        return self.inputs.set_level(level)[0].copy(), page, np.ascontiguousarray(truth)

    def batch(self, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        samples = [self.sample() for _ in range(count)]
        inputs, pages, truths = (np.stack(s) for s in zip(*samples, strict=True))
        return (
            torch.from_numpy(inputs),
            torch.from_numpy(pages[:, None].astype(np.float32) / 255),
            torch.from_numpy(truths[:, None].astype(np.float32)),
        )


def degrade(crop: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A scan crop made to look like a camera frame, or left nearly as it is (float in, uint8)."""
    size = crop.shape[0]
    if rng.random() < 0.5:  # lower contrast around the paper's level
        paper = float(np.percentile(crop, 90))
        crop = paper + (crop - paper) * rng.uniform(0.12, 1.1)
    if rng.random() < 0.5:  # uneven light: a ramp and a smooth blob
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
        light = 1 + rng.uniform(-0.5, 0.5) * (xx - 0.5) + rng.uniform(-0.5, 0.5) * (yy - 0.5)
        cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.2, 1.0)
        light += rng.uniform(-0.4, 0.3) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / r**2)
        crop = crop * np.clip(light, 0.3, 1.3)
    if rng.random() < 0.2:  # a cast shadow with a soft edge
        angle, offset = rng.uniform(0, math.pi), rng.uniform(-0.3, 0.3) * size
        yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) - size / 2
        side = (xx * math.cos(angle) + yy * math.sin(angle) - offset) / rng.uniform(2, 20)
        crop = crop * (1 - rng.uniform(0.2, 0.6) * 0.5 * (1 + np.tanh(side / 2)))
    if rng.random() < 0.3:
        crop = 255 * (np.clip(crop, 0, 255) / 255) ** rng.uniform(0.7, 1.5)
    if rng.random() < 0.3:
        crop = cv2.GaussianBlur(crop, (0, 0), rng.uniform(0.3, 1.5))
    if rng.random() < 0.5:
        crop = crop + rng.normal(0, rng.uniform(1, 12), crop.shape).astype(np.float32)
    page = np.clip(crop + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        quality = int(rng.integers(30, 91))
        _, data = cv2.imencode(".jpg", page, [cv2.IMWRITE_JPEG_QUALITY, quality])
        page = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return page


def loss_of(logits: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """Cross-entropy plus a soft F-measure term (DIBCO's main score, on the rare ink class)."""
    bce = F.binary_cross_entropy_with_logits(logits, truth)
    p = torch.sigmoid(logits)
    soft_f = 2 * (p * truth).sum() / (p.sum() + truth.sum() + 1.0)
    return bce + 0.5 * (1 - soft_f)


def export(net: ThresholdNet, path: Path) -> None:
    """Write ``net`` as ONNX with free height and width, and check that OpenCV reads it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sample = torch.rand(1, CHANNELS, 2 * GRID // REDUCTION, 4 * GRID // REDUCTION)
    axes = {2: "height", 3: "width"}
    torch.onnx.export(
        net.eval(),
        (sample,),
        str(path),
        input_names=["blocks"],
        output_names=["threshold"],
        dynamic_axes={"blocks": axes, "threshold": axes},
        opset_version=17,
        dynamo=False,
    )
    cv2.dnn.readNetFromONNX(str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "../shared/data/dibco")
    parser.add_argument("--holdout", type=int, choices=YEARS, help="year left out (a fold)")
    parser.add_argument("--out", type=Path, help="ONNX file (default: by --holdout)")
    parser.add_argument("--steps", type=int, default=16000)
    parser.add_argument("--batch", type=int, default=12)
    parser.add_argument("--crop", type=int, default=192, help="crop side, a multiple of 16")
    parser.add_argument("--width", type=int, default=16, help="channels of the first level")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--clean", type=float, default=0.3, help="share of undegraded crops")
    parser.add_argument("--native", type=float, default=0.5, help="share near scale 1")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    if args.crop % GRID:
        parser.error(f"--crop must be a multiple of {GRID}")
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    years = [y for y in YEARS if y != args.holdout]
    out = args.out or (
        ROOT / "benchmarks/results" / f"learned-{args.holdout}.onnx"
        if args.holdout
        else ROOT / "livethresh/binarize/weights/learned.onnx"
    )
    pages = load_pages(args.data.resolve(), years)
    crops = Crops(pages, args.crop, args.seed, args.clean, args.native)
    net = ThresholdNet(args.width)
    params = sum(p.numel() for p in net.parameters())
    print(f"{len(pages)} pages of {years}, {params} parameters -> {out}", flush=True)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps)
    started, running = time.monotonic(), 0.0
    for step in range(1, args.steps + 1):
        inputs, gray, truth = crops.batch(args.batch)
        loss = loss_of(full_logits(net(inputs), gray), truth)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        if step % 100 == 0 or step == args.steps:
            spent = time.monotonic() - started
            print(f"step {step}  loss {running:.4f}  {spent:.0f} s", flush=True)
    export(net, out)
    print(f"wrote {out} ({out.stat().st_size} bytes) in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
