"""The live config swap: a running pipeline's binarizer, replaced when its settings change.

Settings change from any thread (a key in the preview, the browser view) while the process
stage binarizes frames. The new binarizer is built in the thread that asks for the change, so
the process stage only swaps it in at its next frame and the stream never stalls on an
allocation.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from livethresh.binarize.binarizer import Binarizer

if TYPE_CHECKING:
    from livethresh.config import ThresholdConfig

logger = logging.getLogger(__name__)

#: A config waiting for the process stage, with its binarizer built for the current frame size
#: (None before the first frame: the process stage builds it).
Pending = tuple["ThresholdConfig", Binarizer | None]


class BinarizerSwap:
    """The process stage's binarizer, following the latest config and the frame size.

    Args:
        config: The settings of the first frame.
        bands: Bands every binarizer it builds runs in parallel.
    """

    def __init__(self, config: ThresholdConfig, bands: int) -> None:
        self.bands = bands
        self._config = config
        self._current: Binarizer | None = None
        self._pending: Pending | None = None
        self._lock = threading.Lock()

    def change(self, config: ThresholdConfig) -> None:
        """Use ``config`` from the next frame on (from any thread).

        The new binarizer starts without history: with ``stabilize``, the average restarts
        from the next frame under the new settings. A change not yet taken up is replaced.
        """
        current = self._current
        prebuilt = None if current is None else Binarizer(config, current.shape, threads=self.bands)
        self._take_pending((config, prebuilt), close=True)

    def for_shape(self, shape: tuple[int, int]) -> Binarizer:
        """The binarizer for this frame size and the latest config, rebuilt only on change.

        Only the process stage calls it.
        """
        if self._pending is not None and (pending := self._take_pending()) is not None:
            self._config, prebuilt = pending
            if self._current is not None:
                self._current.close()
            self._current = prebuilt
        current = self._current
        if current is None or current.shape != shape or current.config is not self._config:
            if current is not None:
                current.close()
                logger.info("frame size is now %dx%d: rebuilding buffers", shape[1], shape[0])
            self._current = current = Binarizer(self._config, shape, threads=self.bands)
        return current

    def close(self, in_use: bool = False) -> None:
        """Close the binarizers; the current one only if no stuck stage may still be using it."""
        self._take_pending(close=True)
        if self._current is not None and not in_use:
            self._current.close()

    def _take_pending(
        self, replacement: Pending | None = None, close: bool = False
    ) -> Pending | None:
        """Swap the change waiting for the process stage; close its binarizer if asked.

        Returns:
            The change that was waiting, or None.
        """
        with self._lock:
            pending, self._pending = self._pending, replacement
        if close and pending is not None and pending[1] is not None:
            pending[1].close()
        return pending
