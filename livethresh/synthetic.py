"""Synthetic document pages with known ground truth, so demos and tests need no files.

A page is black text rendered on white paper; the ground-truth mask is known exactly. Lighting
is applied afterwards as a smooth multiplicative field (a gradient plus a soft shadow, like a
phone photo of a book near the gutter), which is what defeats a single global threshold.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import cv2
import numpy as np

_WORDS = (
    "adaptive",
    "thresholding",
    "compares",
    "each",
    "pixel",
    "with",
    "its",
    "own",
    "neighbourhood",
    "so",
    "that",
    "text",
    "stays",
    "readable",
    "under",
    "a",
    "shadow",
    "where",
    "one",
    "global",
    "cut",
    "off",
    "fails",
    "the",
    "block",
    "size",
    "sets",
    "how",
    "far",
    "the",
    "neighbourhood",
    "reaches",
    "and",
    "C",
    "shifts",
    "the",
    "local",
    "mean",
    "paper",
    "ink",
    "light",
    "gutter",
    "page",
    "receipt",
    "whiteboard",
    "marker",
    "camera",
    "frame",
    "video",
    "stream",
    "binarize",
    "mask",
    "foreground",
    "background",
)


def render_text_page(
    height: int = 720, width: int = 960, seed: int = 0, line_height: int | None = None
) -> np.ndarray:
    """Render black text on white paper.

    Returns:
        A uint8 gray page; its ground-truth text mask is ``page < 128``.
    """
    rng = np.random.default_rng(seed)
    page = np.full((height, width), 255, np.uint8)
    step = line_height or max(12, height // 24)
    scale = step / 34
    thickness = max(1, round(step / 14))
    margin = max(2, width // 16)
    y = margin + step
    while y < height - margin // 2:
        x = margin
        while True:
            word = str(rng.choice(_WORDS))
            (w, _), _ = cv2.getTextSize(word, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            if x + w > width - margin:
                break
            cv2.putText(
                page, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, scale, 0, thickness, cv2.LINE_AA
            )
            x += w + max(4, step // 3)
        y += step
    return page


def illumination(height: int, width: int, phase: float = 0.0) -> np.ndarray:
    """A smooth lighting field in (0, 1]: a diagonal falloff and a soft moving shadow band.

    Args:
        phase: 0 to 1, moves the shadow across the page (for video).
    """
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    u, v = xx / max(width - 1, 1), yy / max(height - 1, 1)
    falloff = 1.0 - 0.55 * (0.6 * u + 0.4 * v)
    centre = 0.25 + 0.5 * (0.5 - 0.5 * math.cos(2 * math.pi * phase))
    shadow = 1.0 - 0.6 * np.exp(-(((u - centre) / 0.12) ** 2))
    return cast(np.ndarray, (falloff * shadow).astype(np.float32))


def light_page(
    page: np.ndarray,
    light: np.ndarray,
    paper: float = 235.0,
    ink: float = 40.0,
    noise: float = 3.0,
    seed: int = 0,
) -> np.ndarray:
    """Photograph a rendered page: map it to paper and ink tones, apply light, add sensor noise."""
    rng = np.random.default_rng(seed)
    tone = ink + (paper - ink) * (page.astype(np.float32) / 255.0)
    shot = tone * light + rng.normal(0.0, noise, page.shape).astype(np.float32)
    return cast(np.ndarray, np.clip(shot, 0, 255).astype(np.uint8))


def document_photo(
    height: int = 720, width: int = 960, seed: int = 0, phase: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """A gray phone-photo-like page under uneven light and its ground-truth mask (255 = ink)."""
    page = render_text_page(height, width, seed)
    shot = light_page(page, illumination(height, width, phase), seed=seed)
    truth = np.where(page < 128, 255, 0).astype(np.uint8)
    return shot, truth


def document_frames(
    frames: int, height: int = 540, width: int = 960, seed: int = 0, noise: float = 3.0
) -> Iterator[np.ndarray]:
    """Gray frames of one page while a shadow sweeps across it, like a phone held over a book.

    Args:
        noise: Standard deviation of the sensor noise, new in every frame, in gray levels.
    """
    page = render_text_page(height, width, seed)
    for i in range(frames):
        light = illumination(height, width, phase=i / max(frames, 1))
        yield light_page(page, light, noise=noise, seed=i)


#: The camera motions of :func:`page_clip`.
MOTIONS = ("still", "pan", "fade", "shake")
#: How fast :func:`page_clip` pans, in pixels per frame.
PAN_PIXELS_PER_FRAME = 3
#: How much light :func:`page_clip` fades away, over how many seconds.
FADE_FRACTION, FADE_SECONDS = 0.35, 2.0
#: ``shake``: the largest offset of a hand-held page from its rest position, in pixels, and the
#: tremor's frequencies in x and y (Hz): a hand holding a phone sways slowly, sub-pixel steps.
SHAKE_PIXELS, SHAKE_HZ = 1.5, (0.5, 0.4)


def page_clip(
    motion: str,
    frames: int = 60,
    height: int = 360,
    width: int = 640,
    noise: float = 4.0,
    seed: int = 0,
    fps: float = 30.0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """A page filmed by a noisy camera, frame by frame, with each frame's ground truth.

    The test clips of temporal stabilization: the same page under the same uneven light,
    with fresh sensor noise in every frame, and one motion:

    - ``still``: nothing moves; any change in the mask is flicker;
    - ``pan``: the page slides left by :data:`PAN_PIXELS_PER_FRAME` pixels per frame;
    - ``fade``: the light dims by :data:`FADE_FRACTION` over :data:`FADE_SECONDS`, then stays;
    - ``shake``: the page sways in a hand, up to :data:`SHAKE_PIXELS` from its rest position
      at the frequencies :data:`SHAKE_HZ`, in sub-pixel steps.

    Yields:
        ``(gray, truth)``: the uint8 frame and its ink, boolean (True = ink).

    Raises:
        ValueError: An unknown motion.
    """
    if motion not in MOTIONS:
        raise ValueError(f"unknown motion {motion!r}: use one of {', '.join(MOTIONS)}")
    travel = PAN_PIXELS_PER_FRAME * frames if motion == "pan" else 0
    page = render_text_page(height, width + travel, seed)
    light = illumination(height, width, 0.3)
    fade_frames = max(1.0, FADE_SECONDS * fps - 1)
    for i in range(frames):
        left = PAN_PIXELS_PER_FRAME * i if motion == "pan" else 0
        dim = 1.0 - FADE_FRACTION * min(1.0, i / fade_frames) if motion == "fade" else 1.0
        view = page[:, left : left + width]
        if motion == "shake":
            phase = 2 * np.pi * i / fps
            dx, dy = (SHAKE_PIXELS * np.sin(phase * hz + seed) for hz in SHAKE_HZ)
            shift = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
            view = cv2.warpAffine(view, shift, (width, height), borderMode=cv2.BORDER_REFLECT)
        yield light_page(view, light * dim, noise=noise, seed=seed * 100_003 + i), view < 128


def write_document_clip(
    path: Path,
    frames: int = 90,
    height: int = 540,
    width: int = 960,
    fps: int = 30,
    noise: float = 3.0,
) -> Path:
    """Encode :func:`document_frames` as an H.264 clip, the demo's built-in camera footage."""
    return write_gray_clip(path, document_frames(frames, height, width, noise=noise), fps)


def write_gray_clip(
    path: Path, frames: Iterable[np.ndarray], fps: int = 30, times: Iterable[float] | None = None
) -> Path:
    """Encode gray frames as an H.264 clip (x264 veryfast, crf 18, yuv420p).

    Args:
        times: Each frame's presentation time in seconds (millisecond precision), to make
            gaps and jumps; None: one frame every ``1 / fps`` seconds.
    """
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "18"}
        if times is not None:
            stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stamps = iter(times) if times is not None else None
        for index, gray in enumerate(frames):
            if index == 0:
                stream.width, stream.height = gray.shape[1], gray.shape[0]
            frame = av.VideoFrame.from_ndarray(gray, "gray")
            if stamps is not None:
                frame.pts, frame.time_base = round(next(stamps) * 1000), Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def mux_tone(
    container: av.container.OutputContainer,
    stream: av.audio.stream.AudioStream,
    sample: int,
    end: int,
) -> int:
    """Mux a test tone into ``stream`` from ``sample`` until ``end`` (in samples), in chunks of
    1024: a sine at 0.3 of full scale, the same in every channel, so that a clip's sound can
    be checked after a transcode. Returns the next sample, where the following call goes on.
    """
    while sample < end:
        tone = np.sin(np.arange(sample, sample + 1024) / 20).astype(np.float32)
        chunk = av.AudioFrame.from_ndarray(
            np.stack([tone] * stream.channels) * 0.3, format="fltp", layout=stream.layout.name
        )
        chunk.sample_rate, chunk.pts = stream.rate, sample
        container.mux(stream.encode(chunk))
        sample += 1024
    return sample


#: The degradations of :func:`degraded_document`, each built in three levels (1 mild to 3 strong).
