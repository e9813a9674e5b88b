"""Pictures for the encoder: a mask (or input | mask) laid into a reusable encoder frame.

On the 8-bit planar path the mask is copied straight into the luma plane of a frame whose chroma
stays neutral (128), so a frame costs one memory copy and no color conversion. With
``side_by_side`` the input half keeps its colors, turned upright and stretched to full range.
"""

from __future__ import annotations

import logging

import av
import cv2
import numpy as np

from livethresh.frames import ROTATE_CODES, ProcessedFrame, plane_view, upright_rotation

log = logging.getLogger(__name__)

#: 8-bit formats whose first plane is the luma, and whose other planes are chroma: the mask can
#: be copied in as it is, with chroma held at 128.
LUMA_PLANE_FORMATS = frozenset(
    {
        "gray",
        "yuv420p",
        "yuvj420p",
        "yuv422p",
        "yuvj422p",
        "yuv444p",
        "yuvj444p",
        "yuv440p",
        "yuvj440p",
        "yuv411p",
        "yuv410p",
        "nv12",
        "nv21",
        "nv16",
    }
)


NEUTRAL_CHROMA = 128


#: ``cv2.LUT`` tables from the limited (MPEG) range to full range: luma 16..235 -> 0..255,
#: chroma 16..240 -> 0..255 around 128 (FFmpeg's range conversion, up to rounding).
_CODES = np.arange(256, dtype=np.float64)


LUMA_TO_FULL_RANGE = np.clip(np.rint((_CODES - 16) * 255 / 219), 0, 255).astype(np.uint8)


CHROMA_TO_FULL_RANGE = np.clip(np.rint((_CODES - 128) * 255 / 224 + 128), 0, 255).astype(np.uint8)


def _plane_view(frame: av.VideoFrame, index: int) -> np.ndarray:
    """A writable (rows, width) uint8 view of one plane, honouring its line stride."""
    plane = frame.planes[index]
    return plane_view(plane, plane.height, plane.width)


def _is_limited_range(frame: object) -> bool:
    """Whether ``frame``'s YUV samples are in the limited (MPEG) range.

    An unspecified range means limited for YUV, as in FFmpeg; ``yuvj`` formats, gray, RGB and
    palette formats are full range, and so is anything that is not a decoded frame.
    """
    if not isinstance(frame, av.VideoFrame):
        return False
    fmt = frame.format
    if fmt.is_rgb or fmt.has_palette or len(fmt.components) < 3 or fmt.name.startswith("yuvj"):
        return False
    return frame.color_range != av.video.reformatter.ColorRange.JPEG


def _layout_name(pix_fmt: str) -> str:
    """``pix_fmt`` without the ``j`` of the full-range twins: the plane layout's name."""
    return pix_fmt.replace("yuvj", "yuv", 1)


def _copy_to_full_range(src: np.ndarray, dst: np.ndarray, table: np.ndarray | None) -> None:
    """Copy ``src`` into ``dst``, through ``table`` when the samples need a range stretch."""
    if table is None:
        np.copyto(dst, src)
    else:
        cv2.LUT(src, table, dst=dst)


def _replicate_edges(luma: np.ndarray, width: int, height: int) -> None:
    """Fill padding columns and rows (odd sizes) with copies of the last real ones."""
    if luma.shape[1] > width:
        luma[:height, width:] = luma[:height, width - 1 : width]
    if luma.shape[0] > height:
        luma[height:] = luma[height - 1]


def _pad_edges(image: np.ndarray, width: int, height: int) -> np.ndarray:
    if image.shape == (height, width):
        return image
    return np.pad(image, ((0, height - image.shape[0]), (0, width - image.shape[1])), mode="edge")


class PictureComposer:
    """Lays masks (or input | mask pairs) into encoder frames of one stream.

    Args:
        pix_fmt: The encoded pixel format.
        side_by_side: Put the input on the left of the mask.
        size: ``(width, height)`` of one picture (the stream's first frame size); a later
            resolution change is scaled to it, never a new stream.
        padded: ``(width, height)`` of the encoder frame, with whole chroma samples.
    """

    def __init__(
        self, pix_fmt: str, side_by_side: bool, size: tuple[int, int], padded: tuple[int, int]
    ) -> None:
        self.pix_fmt = pix_fmt
        self.side_by_side = side_by_side
        self._size = size
        self._resized: np.ndarray | None = None
        self._resized_gray: np.ndarray | None = None
        # Upright copies of the input's two chroma planes, for rotated inputs.
        self._upright_chroma: list[np.ndarray | None] = [None, None]
        self._warned_resize = False
        self.frame: av.VideoFrame | None = self.blank_frame(*padded)

    def blank_frame(self, width: int, height: int) -> av.VideoFrame:
        """A reusable encoder frame with neutral chroma, for the direct luma-plane path."""
        if self.pix_fmt not in LUMA_PLANE_FORMATS:
            return av.VideoFrame(width, height, self.pix_fmt)
        picture = av.VideoFrame(width, height, self.pix_fmt)
        for plane in picture.planes[1:]:
            # A plane is a buffer; numpy's stubs accept only bytes-like types before 3.12.
            np.frombuffer(plane, np.uint8)[:] = NEUTRAL_CHROMA  # type: ignore[call-overload]
        picture.color_range = av.video.reformatter.ColorRange.JPEG
        return picture

    def fit(self, image: np.ndarray, gray: bool) -> np.ndarray:
        """``image`` at the stream's size: a resolution change is scaled, never a new stream."""
        width, height = self._size
        if image.shape[:2] == (height, width):
            return image
        if not self._warned_resize:
            log.warning(
                "resolution changed from %dx%d to %dx%d; scaling to the first size",
                width,
                height,
                image.shape[1],
                image.shape[0],
            )
            self._warned_resize = True
        attr = "_resized_gray" if gray else "_resized"
        out: np.ndarray | None = getattr(self, attr)
        if out is None:
            out = np.empty((height, width), np.uint8)
            setattr(self, attr, out)
        # Nearest keeps a mask binary; area keeps the input picture smooth.
        cv2.resize(
            image,
            (width, height),
            dst=out,
            interpolation=cv2.INTER_AREA if gray else cv2.INTER_NEAREST,
        )
        return out

    def compose(self, frame: ProcessedFrame) -> av.VideoFrame:
        """The encoder frame for one mask; no conversion on the 8-bit planar path."""
        assert self.frame is not None
        width, height = self._size
        mask = self.fit(frame.mask, gray=False)
        gray = self.fit(frame.gray, gray=True) if self.side_by_side else None
        if self.pix_fmt not in LUMA_PLANE_FORMATS:
            content = mask if gray is None else np.hstack([gray, mask])
            padded = _pad_edges(content, self.frame.width, self.frame.height)
            # A fresh frame each time: the encoder may still hold the previous one.
            return av.VideoFrame.from_ndarray(padded, format="gray").reformat(format=self.pix_fmt)
        picture = self.frame
        # Reuse the frame unless the encoder still references it; FFmpeg then reallocates and
        # copies, so chroma stays neutral and no picture in flight is overwritten.
        picture.make_writable()
        luma = _plane_view(picture, 0)
        if gray is None:
            luma[:height, :width] = mask
        else:
            _copy_to_full_range(
                gray,
                luma[:height, :width],
                LUMA_TO_FULL_RANGE if _is_limited_range(frame.frame) else None,
            )
            luma[:height, width : 2 * width] = mask
            self._copy_input_chroma(frame, picture)
        _replicate_edges(luma, width * (2 if gray is not None else 1), height)
        return picture

    def _copy_input_chroma(self, frame: ProcessedFrame, picture: av.VideoFrame) -> None:
        """Give the input half its colors, turned upright and in full range like its luma.

        The input half's luma is the pipeline's gray, which is upright; the decoded frame's
        chroma is not, so it is rotated the same way first. A frame whose upright size is not
        the stream's (a resolution change, scaled) keeps neutral chroma. With an odd width,
        the last chroma column is shared by the input's last pixel and the mask's first, and
        it takes the input's color.
        """
        source = frame.frame
        width, height = self._size
        if len(picture.planes) < 3 or not isinstance(source, av.VideoFrame):
            return
        rotation = upright_rotation(source)
        upright = (
            (source.height, source.width)
            if rotation in (90, 270)
            else (source.width, source.height)
        )
        if upright != (width, height):
            return
        if _layout_name(source.format.name) != _layout_name(self.pix_fmt):
            # Another layout. (Converting into a yuvj format expands the range already, and
            # _is_limited_range sees that; yuv and yuvj twins share a layout and are copied.)
            source = source.reformat(format=self.pix_fmt)
        table = CHROMA_TO_FULL_RANGE if _is_limited_range(source) else None
        cols = picture.format.chroma_width(width)
        rows = picture.format.chroma_height(height)
        for index in (1, 2):
            src = _plane_view(source, index)
            if rotation:
                src = self._rotate_chroma(src, rotation, index - 1)
            dst = _plane_view(picture, index)[:rows, :cols]
            if src.shape[0] >= rows and src.shape[1] >= cols:
                _copy_to_full_range(src[:rows, :cols], dst, table)
            else:
                # 4:2:2-like subsampling turned by 90 degrees: the upright plane has the
                # other shape, so it is resampled to the chroma grid of the output.
                cv2.resize(src, (cols, rows), dst=dst, interpolation=cv2.INTER_LINEAR)
                if table is not None:
                    cv2.LUT(dst, table, dst=dst)

    def _rotate_chroma(self, plane: np.ndarray, rotation: int, slot: int) -> np.ndarray:
        """``plane`` turned clockwise by ``rotation`` degrees, into a reused buffer."""
        shape = plane.shape[::-1] if rotation in (90, 270) else plane.shape
        out = self._upright_chroma[slot]
        if out is None or out.shape != shape:
            out = self._upright_chroma[slot] = np.empty(shape, np.uint8)
        cv2.rotate(plane, ROTATE_CODES[rotation], dst=out)
        return out
