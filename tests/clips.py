"""Clips for tests, written at run time by PyAV (no binary fixtures), and read back.

:func:`make_video` is the one clip writer. What it writes is said by small frozen specs, each
with defaults, so a call names only what matters to its test::

    make_video(path)                                    # 15 frames of a moving page, 160x120
    make_video(path, Picture(frames=30, size=(64, 48)), audio=Tone("aac"), fmt="mpegts")
    make_video(path, Picture(lumas=planes), coding=Coding(lossless=True, rotation=90))
    make_video(path, timing=Timing(pts_ms=[0, 40, 200]), streams=Streams(subtitles=True))

:class:`Picture` is what the frames show, :class:`Coding` how the video is encoded,
:class:`Timing` when the frames are shown, :class:`Tone` an audio track, :class:`Streams` tags,
subtitles and a second video stream; ``fmt`` picks the container when the extension does not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.subtitles.subtitle import SubtitleSet

from livethresh.synthetic import mux_tone
from tests.helpers import document_frame

#: Millisecond time base: clips with exact, readable timestamps.
MS = Fraction(1, 1000)


#: A minimal ASS header: what FFmpeg's text subtitle encoders start from.
ASS_HEADER = b"""[Script Info]
ScriptType: v4.00+
PlayResX: 384
PlayResY: 288

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, \
Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, \
Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,16,&Hffffff,&Hffffff,&H0,&H0,0,0,0,0,100,100,0,0,1,1,0,2,10,10,10,0

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
"""


def exact_yuv420p(luma: np.ndarray) -> av.VideoFrame:
    """A yuv420p frame whose Y plane is ``luma`` exactly, with neutral chroma."""
    height, width = luma.shape
    chroma = np.full((height // 2, width), 128, np.uint8)
    return av.VideoFrame.from_ndarray(np.concatenate([luma, chroma]), format="yuv420p")


@dataclass(frozen=True)
class Picture:
    """What the frames of a clip show.

    Attributes:
        frames: How many frames of the page or picture.
        size: ``(width, height)`` of the moving page.
        lumas: The frames' exact luma planes (yuv420p, neutral chroma), which set ``frames``
            and ``size``; by default a document page that moves 2 pixels a frame.
        rgb: One color picture repeated ``frames`` times instead (FFmpeg's default RGB to
            limited-range YUV conversion).
    """

    frames: int = 15
    size: tuple[int, int] = (160, 120)
    lumas: list[np.ndarray] | None = None
    rgb: np.ndarray | None = None


@dataclass(frozen=True)
class Coding:
    """How the video stream is encoded and what it says about its display.

    Attributes:
        codec: The video encoder.
        pix_fmt: The encoded pixel format.
        lossless: x264 with qp 0, so that decoded luma equals what was encoded.
        rotation: Display-matrix rotation, counter-clockwise degrees.
        sar: The video's sample aspect ratio.
    """

    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    lossless: bool = False
    rotation: int | None = None
    sar: Fraction | None = None


@dataclass(frozen=True)
class Timing:
    """When the frames are shown.

    Attributes:
        fps: The nominal rate; frame times are ``i / fps`` unless ``pts_ms`` is given.
        pts_ms: Each frame's time in ms (variable frame rate).
        start_ms: The first frame's time, when ``pts_ms`` is not given.
    """

    fps: int = 30
    pts_ms: list[int] | None = None
    start_ms: int = 0


@dataclass(frozen=True)
class Tone:
    """An audio track: a sine tone that starts with the first frame and ends with the last.

    Attributes:
        codec: The audio encoder (``aac``, ``libopus``, ``flac``...).
        rate: The sample rate.
        layout: The channel layout.
    """

    codec: str = "aac"
    rate: int = 48000
    layout: str = "stereo"


@dataclass(frozen=True)
class Streams:
    """What a clip carries besides its video and its tone.

    Attributes:
        tagged: Give the container a title and the audio a language and a title.
        subtitles: Add an English SRT stream (forced) with two lines.
        second_video: Add a second, small video stream.
    """

    tagged: bool = False
    subtitles: bool = False
    second_video: bool = False


def make_video(
    path: Path,
    picture: Picture = Picture(),
    *,
    coding: Coding = Coding(),
    timing: Timing = Timing(),
    audio: Tone | None = None,
    streams: Streams = Streams(),
    fmt: str | None = None,
) -> Path:
    """Encode a clip for a test: ``make_video(path, Picture(frames=10), audio=Tone("aac"))``.

    Args:
        path: Where to write; the extension picks the container unless ``fmt`` is given.
        picture: What the frames show, and how many there are.
        coding: How the video is encoded.
        timing: The frames' rate or times.
        audio: A tone track, or None for video only.
        streams: Tags, subtitles and a second video stream.
        fmt: The container, overriding the extension.
    """
    frames, size, lumas, rgb = picture.frames, picture.size, picture.lumas, picture.rgb
    codec, pix_fmt, lossless = coding.codec, coding.pix_fmt, coding.lossless
    rotation, sar = coding.rotation, coding.sar
    fps, pts_ms, start_ms = timing.fps, timing.pts_ms, timing.start_ms
    audio_rate = audio.rate if audio is not None else 48000
    layout = audio.layout if audio is not None else "stereo"
    tagged, subtitles, second_video = streams.tagged, streams.subtitles, streams.second_video
    if lumas is not None:
        frames = len(lumas)
        size = (lumas[0].shape[1], lumas[0].shape[0])
    elif rgb is not None:
        size = (rgb.shape[1], rgb.shape[0])
    width, height = size
    stamps = pts_ms or [start_ms + round(i * 1000 / fps) for i in range(frames)]
    page = None
    if lumas is None and rgb is None:
        page = document_frame(height + len(stamps) * 2, width + len(stamps) * 2, seed=5)
    with av.open(str(path), "w", format=fmt) as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        # A constant rate gets the exact time base 1/fps; given times, milliseconds.
        exact = pts_ms is None and not start_ms
        time_base = Fraction(1, fps) if exact else MS
        video.time_base = time_base
        video.codec_context.time_base = time_base
        if codec == "libx264":
            video.options = {"preset": "ultrafast", **({"qp": "0"} if lossless else {})}
        if rotation is not None:
            video.set_display_rotation(rotation)
        if sar is not None:
            video.codec_context.sample_aspect_ratio = sar
        extra = None
        if second_video:
            extra = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
            extra.width, extra.height, extra.pix_fmt = 32, 32, "yuv420p"
        sound = None
        if audio is not None:
            sound = container.add_stream(audio.codec, rate=audio_rate)
            sound.layout = layout
        text = None
        if subtitles:
            text = container.add_stream("subrip")
            text.codec_context.subtitle_header = ASS_HEADER
            text.time_base = MS
            text.metadata["language"] = "eng"
            text.disposition = av.stream.Disposition.forced
        if tagged:
            container.metadata["title"] = "My talk"
            if sound is not None:
                sound.metadata["language"] = "fre"
                sound.metadata["title"] = "Commentary"
        # The tone starts with the first frame, wherever that is.
        sample = stamps[0] * audio_rate // 1000
        for index, stamp in enumerate(stamps):
            if lumas is not None:
                frame = exact_yuv420p(lumas[index])
            elif rgb is not None:
                frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
            else:
                assert page is not None
                gray = page[index * 2 : index * 2 + height, index * 2 : index * 2 + width]
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(gray), format="gray")
                frame = frame.reformat(format=pix_fmt)
            frame.pts, frame.time_base = (index if exact else stamp), time_base
            container.mux(video.encode(frame))
            if extra is not None:
                small = av.VideoFrame(32, 32, "yuv420p")
                small.pts = index
                container.mux(extra.encode(small))
            if sound is not None:
                sample = mux_tone(container, sound, sample, (stamp + 40) * audio_rate // 1000)
        container.mux(video.encode(None))
        if extra is not None:
            container.mux(extra.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))
        for index in range(2 if text is not None else 0):
            assert text is not None
            line = SubtitleSet.create(
                text=f"{index},0,Default,,0,0,0,,Line {index}".encode(), start=0, end=150
            )
            packet = text.codec_context.encode_subtitle(line)
            packet.stream, packet.time_base = text, MS
            packet.pts = packet.dts = stamps[0] + index * 200
            packet.duration = 150
            container.mux(packet)
    return path


def make_tagged_video(
    path: Path,
    *,
    start_ms: int = 0,
    audio: Tone | None = Tone("aac"),
    coding: Coding = Coding(),
    streams: Streams = Streams(),
) -> Path:
    """A small 64x48 clip of 12 frames with tags and a tone that starts with its video at
    ``start_ms``: what the stream-keeping tests read."""
    return make_video(
        path,
        Picture(frames=12, size=(64, 48)),
        coding=coding,
        timing=Timing(start_ms=start_ms),
        audio=audio,
        streams=dataclasses.replace(streams, tagged=True),
    )


def video_frames(path: Path | str) -> list[av.VideoFrame]:
    """Every decoded frame of the first video stream."""
    with av.open(str(path)) as container:
        return list(container.decode(container.streams.video[0]))


def audio_times(path: Path) -> list[float]:
    """The time of every audio packet of the first audio stream (none without one)."""
    with av.open(str(path)) as container:
        if not container.streams.audio:
            return []
        stream = container.streams.audio[0]
        return [float(p.pts * p.time_base) for p in container.demux(stream) if p.pts is not None]


#: The frame rate of :func:`make_split_clip`'s clips.
SPLIT_FPS = 30


def make_split_clip(
    path: Path,
    *,
    frames: int = 120,
    size: tuple[int, int] = (160, 120),
    gop: int = 10,
    noise: float = 0.0,
    still: int = 1,
    audio: bool = True,
    video_start: int = 3,
    fmt: str | None = None,
    lossless: bool = True,
    subtitles: bool = False,
) -> Path:
    """A document page that moves every ``still`` frames, with keyframes every ``gop`` frames,
    a title, and a tone that starts ``video_start`` frames before the video does; with
    ``subtitles``, a French SRT stream of one line a second."""
    width, height = size
    page = document_frame(height + frames, width + frames, seed=7)
    rng = np.random.default_rng(3)
    with av.open(str(path), "w", format=fmt) as container:
        container.metadata["title"] = "A long lecture"
        video = container.add_stream(
            "libx264",
            rate=SPLIT_FPS,
            options={"preset": "ultrafast", "g": str(gop), "qp": "0" if lossless else "23"},
        )
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.codec_context.time_base = Fraction(1, SPLIT_FPS)
        sound = None
        if audio:
            sound = container.add_stream("aac", rate=48000)
            sound.layout = "stereo"
            sound.metadata["language"] = "fre"
        text = None
        if subtitles:
            text = container.add_stream("subrip")
            text.codec_context.subtitle_header = ASS_HEADER
            text.time_base = MS
            text.metadata["language"] = "fra"
        sample = 0
        for index in range(frames):
            shift = index // still
            gray = page[shift : shift + height, shift : shift + width].astype(np.float32)
            if noise:
                gray += rng.normal(0, noise, gray.shape)
            picture = np.clip(gray, 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(picture, format="gray").reformat(format="yuv420p")
            frame.pts, frame.time_base = index + video_start, Fraction(1, SPLIT_FPS)
            container.mux(video.encode(frame))
            if sound is not None:
                end = (index + video_start + 1) * 48000 // SPLIT_FPS
                sample = mux_tone(container, sound, sample, end)
        container.mux(video.encode(None))
        if sound is not None:
            container.mux(sound.encode(None))
        for second in range(frames // SPLIT_FPS if text is not None else 0):
            assert text is not None
            line = SubtitleSet.create(
                text=f"{second},0,Default,,0,0,0,,Line {second}".encode(), start=0, end=800
            )
            packet = text.codec_context.encode_subtitle(line)
            packet.stream, packet.time_base = text, MS
            packet.pts = packet.dts = 1000 * second + 200
            packet.duration = 800
            container.mux(packet)
    return path
