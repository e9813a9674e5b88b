"""The document methods agree with scikit-image, DoxaPy and a float64 reference of each formula.

Conventions, and how each comparison makes them the same:

- **Output.** livethresh writes 255 where a pixel is strictly brighter than the threshold
  surface, ``src > T`` (``src <= T`` with ``invert``). scikit-image's documented use is
  ``image > threshold_sauvola(image)``; DoxaPy writes black (0) when ``src <= T`` and white
  (255) otherwise. All three therefore mean the same thing by 255, and ties go to 0.
- **Sign of k.** livethresh and DoxaPy use Niblack's ``T = m + k * s``, so dark text needs
  ``k < 0`` (default -0.2). scikit-image's ``threshold_niblack`` computes ``T = m - k * s``
  with a positive default ``k = 0.2``: livethresh's ``k`` is minus scikit-image's. Sauvola's
  ``k`` has the same sign everywhere (``T = m * (1 + k * (s / R - 1))``).
- **R.** scikit-image's Sauvola defaults ``r`` to half the dtype range, 127.5 for uint8;
  DoxaPy's Sauvola hard-codes 128; livethresh defaults to 128 (the paper) and takes ``r``.
- **Border.** livethresh replicates the edge pixel (``BORDER_REPLICATE``, like OpenCV's
  adaptive threshold). scikit-image pads with ``numpy.pad(mode="reflect")``
  (``BORDER_REFLECT_101``): livethresh is run on the same reflect-padded image and cropped,
  which makes the full frames comparable. DoxaPy shrinks the window at the borders (mean and
  deviation over the pixels inside the image only), which no padding reproduces, so DoxaPy
  is compared on the pixels whose window lies inside the frame.
- **Precision.** The references work in float64, livethresh in float32 from exact integer box
  sums; a pixel may differ only where it lies within float32 rounding of ``T``. The required
  agreement is 99.9% of pixels.
"""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest

from livethresh import ConfigError, ThresholdConfig
from livethresh.binarize import document
from livethresh.binarize.registry import method_defaults
from livethresh.config import load_preset, to_toml
from tests.helpers import document_frame, random_frame
from tests.helpers import run_binarizer as run


def need(module: str) -> object:
    """Import a reference library inside the test that needs it; skip only that test without it."""
    return pytest.importorskip(module)


DOCUMENT_METHODS = ["sauvola", "niblack", "wolf", "nick", "bradley", "phansalkar"]
MIN_AGREEMENT = 0.999


def assert_agree(got: np.ndarray, want: np.ndarray, what: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype == np.uint8
    agreement = float(np.mean(got == want))
    assert agreement >= MIN_AGREEMENT, f"{what}: only {agreement:.5%} of pixels agree"


def window_stats(gray: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each centred window, edge-replicated, in float64."""
    r = window // 2
    padded = np.pad(gray.astype(np.float64), r, mode="edge")

    def box_mean(values: np.ndarray) -> np.ndarray:
        table = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
        table[1:, 1:] = values.cumsum(0).cumsum(1)
        w = window
        sums = table[w:, w:] - table[:-w, w:] - table[w:, :-w] + table[:-w, :-w]
        return sums / (w * w)

    mean = box_mean(padded)
    variance = np.maximum(box_mean(padded**2) - mean**2, 0.0)
    return mean, np.sqrt(variance)


def formula_reference(gray: np.ndarray, config: ThresholdConfig) -> np.ndarray:
    """Each method's published formula in float64, written independently of the kernels."""
    m, s = window_stats(gray, config.block_size)
    defaults = {"k": method_defaults("k"), "r": method_defaults("r")}
    k = config.k if config.k is not None else defaults["k"].get(config.method)
    r = config.r if config.r is not None else defaults["r"].get(config.method)
    if config.method == "sauvola":
        limit = m * (1 + k * (s / r - 1))
    elif config.method == "niblack":
        limit = m + k * s
    elif config.method == "nick":
        limit = m + k * np.sqrt(s**2 + m**2)
    elif config.method == "wolf":
        spread = r if r is not None else s.max()
        ratio = s / spread if spread > 0 else np.zeros_like(s)
        limit = m - k * (1 - ratio) * (m - float(gray.min()))
    elif config.method == "bradley":
        limit = m * (1 - config.t / 100)
    elif config.method == "phansalkar":
        limit = m * (1 + config.p * np.exp(-config.q * m / 255) + k * (s / r - 1))
    else:
        raise AssertionError(config.method)
    keep = gray <= limit if config.invert else gray > limit
    return np.where(keep, 255, 0).astype(np.uint8)


# --- scikit-image ---------------------------------------------------------------------------


@pytest.mark.parametrize("window", [15, 25, 51])
@pytest.mark.parametrize("content", ["document", "random"])
def test_sauvola_and_niblack_agree_with_scikit_image(window, content):
    skimage_filters = need("skimage.filters")
    make = document_frame if content == "document" else random_frame
    gray = make(360, 480, seed=window)
    r = window // 2
    padded = np.pad(gray, r, mode="reflect")  # scikit-image's border, applied for livethresh
    for k in (0.2, 0.5):
        want = gray > skimage_filters.threshold_sauvola(gray, window_size=window, k=k, r=127.5)
        config = ThresholdConfig(method="sauvola", block_size=window, k=k, r=127.5, blur=0)
        got = run(padded, config)[r:-r, r:-r]
        assert_agree(got, np.where(want, 255, 0).astype(np.uint8), f"sauvola w{window} k{k}")
    for k in (0.2, 0.5):
        want = gray > skimage_filters.threshold_niblack(gray, window_size=window, k=k)
        config = ThresholdConfig(method="niblack", block_size=window, k=-k, blur=0)
        got = run(padded, config)[r:-r, r:-r]
        assert_agree(got, np.where(want, 255, 0).astype(np.uint8), f"niblack w{window} k{k}")


@pytest.mark.slow
def test_sauvola_agrees_with_scikit_image_at_1080p():
    skimage_filters = need("skimage.filters")
    gray = document_frame(1080, 1920, seed=4)
    padded = np.pad(gray, 12, mode="reflect")
    want = gray > skimage_filters.threshold_sauvola(gray, window_size=25, k=0.2)
    config = ThresholdConfig(method="sauvola", block_size=25, k=0.2, r=127.5, blur=0)
    for threads in (1, 2):
        got = run(padded, config, threads)[12:-12, 12:-12]
        assert_agree(got, np.where(want, 255, 0).astype(np.uint8), f"threads {threads}")


# --- DoxaPy ---------------------------------------------------------------------------------

DOXA_ALGORITHMS = {"sauvola": "SAUVOLA", "niblack": "NIBLACK", "nick": "NICK", "wolf": "WOLF"}


def doxa_binarize(gray: np.ndarray, method: str, window: int, k: float) -> np.ndarray:
    doxapy = need("doxapy")
    algorithm = getattr(doxapy.Binarization.Algorithms, DOXA_ALGORITHMS[method])
    binarizer = doxapy.Binarization(algorithm)
    binarizer.initialize(gray)
    out = np.empty_like(gray)
    binarizer.to_binary(out, {"window": window, "k": k})
    return out


@pytest.mark.parametrize(
    ("method", "ks"),
    [
        ("sauvola", (0.2, 0.5)),  # DoxaPy's R is 128
        ("niblack", (-0.2, -0.5)),
        ("nick", (-0.1, -0.2)),
        ("wolf", (0.2, 0.5)),
    ],
)
@pytest.mark.parametrize("window", [15, 25, 75])
def test_agrees_with_doxapy_inside_the_border(method, ks, window):
    gray = document_frame(480, 640, seed=window)
    r = window // 2
    for k in ks:
        extra = {"r": 128.0} if method == "sauvola" else {}
        config = ThresholdConfig(method=method, block_size=window, k=k, blur=0, **extra)
        got = run(gray, config)[r:-r, r:-r]
        want = doxa_binarize(gray, method, window, k)[r:-r, r:-r]
        assert_agree(got, want, f"{method} w{window} k{k}")


# --- the formulas, the border, banding ------------------------------------------------------


@pytest.mark.parametrize("method", DOCUMENT_METHODS)
def test_matches_the_formula_with_replicated_border_full_frame(method):
    for content, window, invert in itertools.product(
        (document_frame, random_frame), (3, 25, 61), (False, True)
    ):
        gray = content(200, 300, seed=window)
        config = ThresholdConfig(method=method, block_size=window, blur=0, invert=invert)
        assert_agree(
            run(gray, config),
            formula_reference(gray, config),
            f"{method} {content.__name__} w{window} invert={invert}",
        )


@pytest.mark.parametrize("method", DOCUMENT_METHODS)
def test_settings_reach_the_formula(method):
    gray = document_frame(160, 200, seed=1)
    for changes in ({"k": 0.35}, {"k": -0.4}, {"r": 64.0}, {"p": 3.0, "q": 5.0}, {"t": 30.0}):
        config = ThresholdConfig(method=method, block_size=31, blur=0, **changes)
        assert_agree(run(gray, config), formula_reference(gray, config), f"{method} {changes}")


@pytest.mark.parametrize("method", DOCUMENT_METHODS)
def test_window_larger_than_the_frame(method):
    for size in [(1, 1), (3, 5), (40, 7)]:
        gray = random_frame(*size, seed=size[1])
        config = ThresholdConfig(method=method, block_size=101, blur=0)
        assert_agree(run(gray, config), formula_reference(gray, config), f"{method} {size}")


@pytest.mark.parametrize("method", DOCUMENT_METHODS)
def test_flat_frames_have_no_nan_and_a_defined_answer(method):
    """Zero variance (where float32 cancellation can go negative) never yields a NaN.

    A NaN threshold fails both ``src > T`` and ``src <= T``, so it would show as a pixel that
    is 0 both plain and inverted: the two masks must be exact complements.
    """
    for value in (0, 1, 128, 254, 255):
        gray = np.full((130, 150), value, np.uint8)
        config = ThresholdConfig(method=method, block_size=25, blur=0)
        plain = run(gray, config, threads=2)
        inverted = run(gray, config.replace(invert=True), threads=2)
        assert np.array_equal(inverted, 255 - plain), f"{method} on flat {value}"
        assert np.array_equal(plain, formula_reference(gray, config)), f"{method} flat {value}"


@pytest.mark.parametrize("method", DOCUMENT_METHODS)
def test_chunks_and_strips_give_the_whole_frame_output_exactly(method, monkeypatch):
    """Box filters per chunk and arithmetic per strip change no pixel, wherever they cut.

    The frame is shorter than one default chunk, so the default run filters it whole; tiny
    chunk and strip settings then put boundaries every few rows (a chunk is never shorter
    than 8 window radii, so window 3 gets the smallest chunks).
    """
    gray = document_frame(150, 170, seed=6)
    for window, threads in [(3, 1), (25, 1), (25, 2), (61, 1)]:
        config = ThresholdConfig(method=method, block_size=window, blur=0)
        whole = run(gray, config, threads)
        for chunk, strip in [(1, 1), (5, 2), (7, 3), (40, 16)]:
            monkeypatch.setattr(document, "CHUNK_ROWS", chunk)
            monkeypatch.setattr(document, "STRIP_ROWS", strip)
            try:
                got = run(gray, config, threads)
            finally:
                monkeypatch.undo()
            assert np.array_equal(got, whole), f"{method} w{window} chunk {chunk} strip {strip}"


@pytest.mark.parametrize("method", DOCUMENT_METHODS)
def test_bands_give_the_unbanded_output_exactly(method):
    gray = document_frame(1080, 1920, seed=2)
    for window, blur, invert in [(25, 0, False), (51, 3, True), (3, 7, False), (301, 0, False)]:
        config = ThresholdConfig(method=method, block_size=window, blur=blur, invert=invert)
        whole = run(gray, config, threads=1)
        for threads in (2, 3):
            assert np.array_equal(run(gray, config, threads), whole), (
                f"{method} w{window} blur{blur} threads={threads}"
            )


@pytest.mark.parametrize("method", DOCUMENT_METHODS)
def test_blur_and_invert_apply_as_for_the_other_methods(method):
    gray = document_frame(240, 320, seed=3)
    plain = run(gray, ThresholdConfig(method=method, block_size=25, blur=0))
    inverted = run(gray, ThresholdConfig(method=method, block_size=25, blur=0, invert=True))
    assert np.array_equal(inverted, 255 - plain)
    blurred = run(gray, ThresholdConfig(method=method, block_size=25, blur=5))
    assert np.array_equal(
        blurred,
        run(
            cv2.GaussianBlur(gray, (5, 5), 0), ThresholdConfig(method=method, block_size=25, blur=0)
        ),
    )
    assert not np.array_equal(blurred, plain)


def test_methods_actually_differ():
    """Guard against a registry mix-up that would make every test above trivially agree."""
    gray = document_frame(240, 320, seed=5)
    masks = {
        m: run(gray, ThresholdConfig(method=m, block_size=25, blur=0)) for m in DOCUMENT_METHODS
    }
    for a, b in itertools.combinations(DOCUMENT_METHODS, 2):
        assert not np.array_equal(masks[a], masks[b]), f"{a} and {b} give the same mask"


# --- settings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"k": 1.5}, r"invalid k 1.5: must be a number from -1 to 1, or unset"),
        ({"k": float("nan")}, r"invalid k nan"),
        ({"r": 0}, r"invalid r 0: must be a number > 0 \(gray levels\)"),
        ({"p": -1}, r"invalid p -1: must be a finite number >= 0"),
        ({"q": float("inf")}, r"invalid q inf"),
        ({"t": 100}, r"invalid t 100: must be a number of percent from 0 to below 100"),
        ({"t": "15"}, r"invalid t '15'"),
    ],
)
def test_bad_document_settings_are_named(changes, message):
    with pytest.raises(ConfigError, match=message):
        ThresholdConfig(method="sauvola", **changes)


def test_document_settings_round_trip_through_a_preset(tmp_path):
    unset = ThresholdConfig(method="sauvola", block_size=31)
    path = tmp_path / "unset.toml"
    path.write_text(to_toml(unset))
    assert "k =" not in path.read_text()
    assert load_preset(str(path)) == unset
    given = ThresholdConfig(method="phansalkar", k=0.3, r=100, p=3, q=8, t=20)
    path.write_text(to_toml(given))
    assert load_preset(str(path)) == given


def test_cli_takes_the_document_options(tmp_path):
    from typer.testing import CliRunner

    from livethresh.cli import app

    gray = document_frame(120, 160)
    source = tmp_path / "page.png"
    cv2.imwrite(str(source), gray)
    target = tmp_path / "mask.png"
    result = CliRunner().invoke(
        app,
        [
            "image",
            str(source),
            str(target),
            "-m",
            "sauvola",
            "--window",
            "31",
            "--k",
            "0.3",
            "--r",
            "100",
            "--blur",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    config = ThresholdConfig(method="sauvola", block_size=31, k=0.3, r=100, blur=0)
    assert np.array_equal(cv2.imread(str(target), cv2.IMREAD_GRAYSCALE), run(gray, config))
    bad = CliRunner().invoke(
        app, ["image", str(source), str(target), "-y", "-m", "bradley", "--t-percent", "120"]
    )
    assert bad.exit_code == 2
    assert "invalid t 120.0" in bad.output


def test_phansalkar_with_a_huge_q_warns_nothing_and_saturates(recwarn):
    """``--q 1e308`` printed numpy's overflow warnings; the term is 0 long before that."""
    gray = document_frame(60, 80)
    gray[:12, :12] = 0  # a black window: exp(-q * 0) stays 1
    config = ThresholdConfig(method="phansalkar", block_size=11, blur=0)
    huge = run(gray, config.replace(q=1e308))
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    assert np.array_equal(huge, run(gray, config.replace(q=1e20)))
