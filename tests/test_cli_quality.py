"""The command-line options for document quality: ``-m su``, ``--min-edges``, ``--despeckle``,
``--auto-scale``, through typer's runner."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from livethresh import ThresholdConfig, resolve
from livethresh.binarize import binarize
from livethresh.cli import app
from tests.conftest import document_frame

runner = CliRunner()


@pytest.fixture
def page(tmp_path):
    path = tmp_path / "page.png"
    cv2.imwrite(str(path), document_frame(240, 320))
    return path


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.parametrize(
    ("flags", "config"),
    [
        (
            ["-m", "su", "--min-edges", "5", "-b", "9", "--blur", "0"],
            ThresholdConfig(method="su", min_edges=5, block_size=9, blur=0),
        ),
        (
            ["-m", "wolf", "--despeckle", "12", "--blur", "0"],
            ThresholdConfig(method="wolf", despeckle=12, blur=0),
        ),
        (
            ["-m", "wolf", "--despeckle", "auto", "--auto-scale", "--blur", "0"],
            ThresholdConfig(method="wolf", despeckle="auto", auto_scale=True, blur=0),
        ),
        (
            ["--preset", "document", "--despeckle", "off", "--fixed-scale"],
            resolve(preset="document").replace(despeckle=0, auto_scale=False),
        ),
    ],
)
def test_options_reach_the_binarizer(page, tmp_path, flags, config):
    out = tmp_path / "mask.png"
    result = invoke("image", page, out, *flags)
    assert result.exit_code == 0, result.output
    want = binarize(cv2.imread(str(page), cv2.IMREAD_GRAYSCALE), config)
    assert np.array_equal(cv2.imread(str(out), cv2.IMREAD_GRAYSCALE), want)


@pytest.mark.parametrize(
    ("flags", "text"),
    [(["--despeckle", "lots"], "invalid despeckle 'lots'"), (["--min-edges", "0"], "min_edges")],
)
def test_bad_values_are_one_line_and_exit_2(page, tmp_path, flags, text):
    result = invoke("image", page, tmp_path / "mask.png", *flags)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert not (tmp_path / "mask.png").exists()


def test_help_lists_the_new_options():
    result = runner.invoke(app, ["image", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("--despeckle", "--auto-scale", "--min-edges", "su"):
        assert text in result.output
