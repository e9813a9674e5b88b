"""The one source implementation: files, URLs, cameras and lavfi patterns read through PyAV."""

from __future__ import annotations

import collections
import logging
import threading
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av

from livethresh.errors import InputError
from livethresh.frames import SourceKind, StreamInfo, upright_rotation
from livethresh.sources.container import (
    failure_reason,
    open_container,
    open_http,
    open_reader,
    warn_other_video_streams,
)
from livethresh.sources.pacing import Pacer
from livethresh.sources.spec import SourceSpec

logger = logging.getLogger(__name__)


#: Seconds to wait for a network stream to open and for each read before giving up.
DEFAULT_TIMEOUT = 10.0


def default_decoder_threads(live: bool) -> int:
    """Codec threads for a source: 1 when live, else 0 (FFmpeg's choice: cores + 1).

    A live source has a whole frame period to decode each frame; one decoder thread leaves
    the cores free to binarize the previous frame at once, which is what keeps latency low,
    and frame threading would also make the decoder hold frames back. A file is read as fast
    as possible: there FFmpeg's automatic count measured a few percent faster than 2 threads
    and clearly faster than 1 on 2 cores (``benchmarks/bench_pipeline.py`` compares them).
    """
    return 1 if live else 0


#: Audio packets a source keeps for its reader (about a minute of AAC at 48 kHz) before it
#: drops the oldest: the pipeline's backpressure normally keeps this queue a frame's worth long.
MAX_QUEUED_AUDIO_PACKETS = 3000


#: Decoder threads of a file that is transcoded. Not FFmpeg's automatic count (3 on 2 cores),
#: which ``bench`` uses: there the encoder needs a share of the cores, and each decoder thread
#: holds frames.
ENCODING_DECODER_THREADS = 2


class AVSource:
    """A :class:`FrameSource` read through PyAV: files, URLs, cameras and lavfi patterns.

    The first frame is decoded when the source is opened, so that :attr:`info` holds the true
    size, pixel format and rotation (display-matrix side data only appears on frames) and so
    that a camera that cannot deliver fails at once, not in a thread.

    With ``audio``, the audio packets of the same container are kept for a reader
    (:meth:`next_audio_packet`) as the video is demuxed: the only way to carry the audio of a
    stream that cannot be opened twice (udp, http, a pipe). With ``subtitles``, its subtitle
    packets too.
    """

    def __init__(
        self,
        spec: SourceSpec,
        *,
        live: bool | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        decoder_threads: int | None = None,
        audio: bool = False,
        subtitles: bool = False,
    ) -> None:
        self.spec = spec
        self._timeout = timeout
        #: Packets the decoder rejected as damaged; they are skipped and the run goes on.
        self.decode_errors = 0
        self._delivered = 0
        # http(s) is read by Python, which tells a hang-up from the end (sources/http.py).
        self._reader = open_http(spec, timeout)
        # A file over http(s) (a response of known length) arrives as fast as the network
        # allows: played live, it is paced like a local file, or most of it would be dropped.
        http_file = self._reader is not None and self._reader.length is not None
        self._paced = bool(live) and (
            spec.kind in (SourceKind.FILE, SourceKind.LAVFI) or (http_file and not spec.live)
        )
        self._container = (
            open_reader(spec, self._reader) if self._reader else open_container(spec, timeout)
        )
        try:
            if not self._container.streams.video:
                what = "only audio" if self._container.streams.audio else "no video stream"
                raise InputError(f"{spec.name!r} has {what}; give a video")
            stream = self._container.streams.video[0]
            warn_other_video_streams(spec.name, self._container.streams.video)
            if stream.codec_context is None:
                codec = getattr(stream, "codec_tag", "") or "unknown"
                raise InputError(
                    f"{spec.name!r} has a video stream whose codec ({codec}) FFmpeg cannot "
                    "decode: the file may be damaged, or re-encode it (e.g. to H.264)"
                )
            stream.thread_type = "AUTO"
            is_live = spec.live if live is None else live
            if decoder_threads is None:
                decoder_threads = default_decoder_threads(is_live)
            stream.codec_context.thread_count = max(0, decoder_threads)
            self._stream = stream
            #: The input's audio and subtitle streams whose packets are kept.
            streams = self._container.streams
            self.audio_streams: list[Any] = list(streams.audio) if audio else []
            self.subtitle_streams: list[Any] = list(streams.subtitles) if subtitles else []
            self._audio: collections.deque[Any] = collections.deque()
            self._audio_dropped = 0
            # The stream's nominal rate, known before the first frame (info comes after it):
            # FFmpeg's guess (av_guess_frame_rate), the rate ffmpeg gives its outputs. It is
            # the real 30 where the average of millisecond timestamps says 48000/1601.
            rate = stream.guessed_rate or stream.average_rate
            self._nominal_rate = Fraction(rate) if rate else None
            self._interrupted = threading.Event()
            self._pacer = Pacer(self._nominal_rate, self._interrupted)
            self._decoded = self._decode_packets()
            first = self._next_frame()
            if first is None:
                damaged = f" ({self.decode_errors} damaged packets)" if self.decode_errors else ""
                raise InputError(f"{spec.name!r} holds no decodable video frames{damaged}")
            self._first: av.VideoFrame | None = first
            self.info = self._describe(first, is_live)
        except BaseException:
            self._container.close()
            if self._reader is not None:
                self._reader.close()
            raise
        self._closed = False

    def _describe(self, first: av.VideoFrame, is_live: bool) -> StreamInfo:
        stream = self._stream
        rotation = upright_rotation(first)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif self._container.duration:
            duration = self._container.duration / av.time_base
        return StreamInfo(
            name=self.spec.name,
            width=width,
            height=height,
            frame_rate=self._nominal_rate,
            time_base=Fraction(stream.time_base) if stream.time_base else None,
            is_live=is_live,
            frame_count=stream.frames or None,
            duration=duration,
            codec=stream.codec_context.name,
            pix_fmt=first.format.name,
            rotation=rotation,
            kind=self.spec.kind,
            sample_aspect_ratio=Fraction(sar) if (sar := stream.sample_aspect_ratio) else None,
        )

    def _next_frame(self) -> av.VideoFrame | None:
        try:
            return next(self._decoded)
        except StopIteration:
            failure = self._reader.failure if self._reader is not None else None
            if failure is not None:  # an HTTP input that ended early, not at its end
                raise InputError(self._read_failure(failure)) from failure
            return None
        except av.FFmpegError as exc:
            raise InputError(self._read_failure(exc)) from exc

    def _read_failure(self, exc: Exception) -> str:
        """What to tell the user when reading stops with an error: what, after how much."""
        name, kind = self.spec.name, self.spec.kind
        reason = failure_reason(exc)
        if kind is SourceKind.URL and reason.endswith("(timed out)"):
            reason = f"no data for {self._timeout:g} s (read timeout)"
        if not self._delivered:
            return f"cannot read {name!r}: {reason}"
        hint = {
            SourceKind.CAMERA: "check that the camera is still connected",
            SourceKind.URL: "check the stream and the network",
            SourceKind.FILE: "the file may be damaged or cut short",
        }.get(kind, "")
        return f"{name!r} stopped after {self._delivered} frames: {reason}" + (
            f"; {hint}" if hint else ""
        )

    def _skip_damaged(self, exc: av.FFmpegError) -> None:
        self.decode_errors += 1
        # Logged once per source; the count is in the run's stats (``decode_errors``).
        level = logging.INFO if self.decode_errors == 1 else logging.DEBUG
        logger.log(
            level,
            "%r: skipping a damaged packet (%s); the run goes on",
            self.spec.name,
            failure_reason(exc),
        )

    @property
    def metadata(self) -> dict[str, str]:
        """The container's tags (title, ...)."""
        return dict(self._container.metadata)

    @property
    def has_audio(self) -> bool:
        """Whether the input holds an audio stream (kept or not)."""
        return bool(self._container.streams.audio)

    def next_audio_packet(self) -> Any | None:
        """The oldest kept audio or subtitle packet not yet taken, or None. Thread-safe."""
        try:
            return self._audio.popleft()
        except IndexError:
            return None

    def _keep_audio(self, packet: Any) -> None:
        if packet.dts is None and not packet.size:
            return  # the demuxer's end-of-stream marker, not data
        if len(self._audio) >= MAX_QUEUED_AUDIO_PACKETS:
            self._audio.popleft()
            self._audio_dropped += 1
            if self._audio_dropped == 1:
                logger.warning(
                    "%r: audio is read faster than it is written; dropping the oldest packets",
                    self.spec.name,
                )
        self._audio.append(packet)

    def _decode_packets(self) -> Iterator[av.VideoFrame]:
        """Demux and decode; when paced, wait before each packet until it is due."""
        packets = self._container.demux([self._stream, *self.audio_streams, *self.subtitle_streams])
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError:
                # Reading stopped: the frames the decoder holds back were received whole.
                yield from self._flush_decoder()
                raise
            if packet.stream.index != self._stream.index:
                self._keep_audio(packet)
                continue
            if self._paced and packet.size:
                self._pacer.wait_until(self._pacer.packet_time(packet))
            try:
                decoded = packet.decode()
            except av.error.InvalidDataError as exc:
                self._skip_damaged(exc)
                continue
            for frame in decoded:
                if self._paced and not packet.size and frame.time is not None:
                    # The final flush releases the frames the decoder held back for
                    # reordering all at once: give each its own time slot.
                    self._pacer.wait_until(frame.time)
                yield frame

    def _flush_decoder(self) -> list[av.VideoFrame]:
        try:
            return list(self._stream.codec_context.decode(None))
        except av.FFmpegError:
            return []

    def interrupt(self) -> None:
        """Stop waiting for the next frame to be due (from any thread); frames then end."""
        self._interrupted.set()

    def seek(self, pts: int) -> None:
        """Go back or forth to the last keyframe at or before ``pts`` (in the video stream's
        time base): the next ``frames()`` starts with that keyframe. For files, before reading.

        Raises:
            InputError: The input cannot seek, or holds no decodable frame from there on.
        """
        try:
            self._container.seek(pts, stream=self._stream, backward=True)
        except (av.FFmpegError, ValueError) as exc:
            raise InputError(f"cannot seek in {self.spec.name!r}: {exc}") from exc
        self._audio.clear()
        # A fresh demuxing generator: the old one may hold frames decoded before the seek.
        self._decoded = self._decode_packets()
        self._first = self._next_frame()
        if self._first is None:
            raise InputError(f"{self.spec.name!r} holds no decodable frame after {pts}")

    def frames(self) -> Iterator[av.VideoFrame]:
        """Yield decoded frames; when playing a file live, each one when it is due."""
        frame, self._first = self._first, None
        # The clock starts now, not at open time: the first frame is due at once, and a packet
        # whose timestamp is t seconds later than it is due t seconds from now.
        self._pacer.restart(frame.time if frame is not None else None)
        while frame is not None and not self._interrupted.is_set():
            self._delivered += 1
            yield frame
            frame = self._next_frame()

    def close(self) -> None:
        """Close the input; safe to call more than once."""
        if not getattr(self, "_closed", True):
            self._closed = True
            self._first = None
            self._container.close()
            if self._reader is not None:
                self._reader.close()

    def __enter__(self) -> AVSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
