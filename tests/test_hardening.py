"""Hardening found by an adversarial round (issue 14): costly settings, library wording and
misuse, messages, image sequences, network audio and hang-ups. Each case goes through the
command or the public API, with media generated here."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from livethresh import Binarizer, ThresholdConfig
from livethresh.cli import app
from livethresh.errors import FrameShapeError, LivethreshError, OutputError
from livethresh.files import binarize_image
from tests.conftest import document_frame

runner = CliRunner()


def invoke(*args: object) -> Any:
    return runner.invoke(app, [str(a) for a in args])


def one_line(result: Any, code: int = 2) -> str:
    """The rule for bad input: the exit code, one line on stderr, no traceback."""
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return str(lines[0])


@pytest.fixture
def page(tmp_path: Path) -> Path:
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), document_frame(120, 160))
    return path


# -- 10: settings whose cost explodes ----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "limit"),
    [(["--blur", "10001"], "1 to 63"), (["-b", "10001"], "at most 255 with the gaussian")],
)
def test_costly_settings_are_refused_with_their_limit(
    page: Path, tmp_path: Path, args: list[str], limit: str
) -> None:
    line = one_line(invoke("image", page, tmp_path / "mask.png", *args))
    assert limit in line
    assert not (tmp_path / "mask.png").exists()


def test_help_states_the_limits() -> None:
    text = invoke("image", "--help").stdout
    assert "1 to 63" in text and "3 to 1001" in text and "gaussian: to 255" in text


# -- 13: library wording and safety ------------------------------------------------------------


def test_library_errors_name_the_argument_and_the_cli_its_flag(page: Path, tmp_path: Path) -> None:
    out = tmp_path / "mask.png"
    binarize_image(page, out, ThresholdConfig())
    with pytest.raises(OutputError, match=r"already exists; pass overwrite=True to replace it"):
        binarize_image(page, out, ThresholdConfig())
    line = one_line(invoke("image", page, out))
    assert line.endswith("already exists; pass -y/--overwrite to replace it")


@pytest.mark.parametrize("shape", [(240, 320, 3), (240,), "240x320", (240.0, 320)])
def test_a_shape_that_is_not_height_width_is_a_clear_error(shape: Any) -> None:
    with pytest.raises(FrameShapeError, match=r"must be \(height, width\) of gray frames") as err:
        Binarizer(ThresholdConfig(), shape)
    if len(shape) == 3:
        assert "image.shape[:2] (240, 320)" in str(err.value)


def test_a_closed_binarizer_refuses_frames() -> None:
    gray = document_frame(64, 80)
    binarizer = Binarizer(ThresholdConfig(), gray.shape, threads=2)
    first = binarizer(gray).copy()
    binarizer.close()
    binarizer.close()  # idempotent
    with pytest.raises(LivethreshError, match="this Binarizer is closed"):
        binarizer(gray)
    with Binarizer(ThresholdConfig(), gray.shape) as fresh:
        assert np.array_equal(fresh(gray), first)
