"""Frame quality ("corruption") checks for timelapse frames.

Each check maps a measurement to a score from 0 (bad) to 1 (fine) with a linear ramp between two
named thresholds; the frame's score is the lowest one, and the check that gave it is the
``reason`` when the frame is discarded. Checks, on the JPEG bytes and the decoded ``HxWx3 uint8
BGR`` image (luma measured on a copy at most :data:`MEASURE_WIDTH` pixels wide):

* ``undecodable`` / ``truncated``: the JPEG does not decode, or lacks its end-of-image marker
  (a cut-off write or transfer; libjpeg would fill the rest grey): score 0;
* ``dark`` / ``overexposed``: mean luma (0-255) near black or white;
* ``uniform``: luma standard deviation near 0 (a grey or single-colour frame, a lens cap);
* ``blurred``: variance of the Laplacian of the luma (Pech-Pacheco et al., "Diatom autofocusing
  in brightfield microscopy: a comparative study", ICPR 2000), divided by the luma variance so
  that a dim but sharp frame is not taken for a blurred one; low for out-of-focus frames;
* relative to the scene: ``uniform``, ``overexposed`` and ``blurred`` are also judged against a
  :class:`Baseline`, the medians of the timelapse's own recent kept frames. A measurement in the
  ramp between "bad" and "good" is forgiven when it is close to the baseline (an overcast sky is
  bright, flat and soft every day: measured on the shared beach photo's overcast sky, mean luma
  230-249, luma deviation 3.8-11, so an absolute check alone discards most sky frames as
  ``uniform`` or ``overexposed``), and not when it fell away from it (a focus or exposure fault
  of a detailed scene). With no baseline yet (the first frame), the ramp is forgiven; a
  measurement at or beyond "bad" (a grey frame, a white one, one blurred beyond recognition) is
  always discarded;
* ``sudden_change``: zero-mean normalised cross-correlation of :data:`CHANGE_WIDTH`-pixel-wide
  luma thumbnails of this and the previous kept frame; near 0 or negative when the whole picture
  is another one (a camera knocked over, a glitch), while light changes (sunrise, clouds) and
  moving people keep it well above (measured: 0.35-0.5 between frames 2 s apart of a busy street
  from a moving camera, 0.9 after a +40 brightness change, -0.35-0.0 for another scene).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MEASURE_WIDTH = 640  #: pixels; blur and exposure are measured at this width (stable across sizes)
CHANGE_WIDTH = 32  #: pixels; the sudden-change check compares thumbnails this wide (layout only)

# (bad, good) measurement thresholds: score 0 at or beyond "bad", 1 at or beyond "good"
DARK = (12.0, 40.0)  #: mean luma
OVEREXPOSED = (250.0, 228.0)  #: mean luma
UNIFORM = (2.0, 10.0)  #: luma standard deviation
BLUR = (0.005, 0.05)  #: variance of the Laplacian / variance of the luma, at MEASURE_WIDTH
#: (measured: 0.33-0.5 sharp; 0.03, 0.01, 0.002 after a Gaussian blur of sigma 2, 3, 6 at 1280 px)
CHANGE = (0.0, 0.3)  #: correlation with the previous kept frame's thumbnail
# relative thresholds (bad, good) against the Baseline of recent kept frames
REL_UNIFORM = (0.25, 0.6)  #: luma deviation / the baseline's
REL_BLUR = (0.2, 0.5)  #: sharpness / the baseline's (frames of one scene: 0.66-1.5)
REL_OVEREXPOSED = (20.0, 8.0)  #: mean luma minus the baseline's

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"


@dataclass(frozen=True)
class Baseline:
    """What the timelapse's scene normally measures: medians over its recent kept frames of
    ``mean`` and ``std`` luma (0-255) and ``sharpness`` (Laplacian variance / luma variance, at
    :data:`MEASURE_WIDTH`)."""

    mean: float
    std: float
    sharpness: float

    @classmethod
    def of(cls, measures: list[dict[str, float]]) -> Baseline | None:
        """The medians of ``measures`` (each a :attr:`Verdict.measures`); None when empty."""
        if not measures:
            return None
        return cls(*(float(np.median([m[k] for m in measures])) for k in ("mean", "std", "sharpness")))


@dataclass(frozen=True)
class Verdict:
    """The outcome for one frame: ``score`` 0-1, ``reason`` (the weakest check, None when all
    are perfect), ``flags`` (every check below 1), ``scores`` (check -> score), and ``gray``: the
    small luma thumbnail to compare the next frame with (None when undecodable), ``measures``:
    ``mean``, ``std``, ``sharpness`` (empty when undecodable) for the next :class:`Baseline`."""

    score: float
    reason: str | None
    flags: tuple[str, ...]
    scores: dict[str, float]
    gray: np.ndarray | None = None
    measures: dict[str, float] = field(default_factory=dict)

    def kept(self, min_score: float) -> bool:
        """Whether the frame passes at ``min_score``."""
        return self.score >= min_score


def _ramp(value: float, bad: float, good: float) -> float:
    """0 at ``bad``, 1 at ``good`` (either direction), linear between, clamped."""
    return float(min(1.0, max(0.0, (value - bad) / (good - bad))))


def decode(jpeg: bytes) -> np.ndarray | None:
    """Decode JPEG bytes to ``HxWx3 uint8 BGR``; None when they do not decode."""
    import cv2  # OpenCV only once this is used (a snapshot-only bridge never loads it)

    if not jpeg.startswith(JPEG_SOI):
        return None
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    return image if image is not None and image.size else None


def _relative(absolute: float, relative: float) -> float:
    """A scene check's score: a hard fail stays, a doubtful one is forgiven as far as it is
    usual for the scene (``relative``: 1 when no baseline)."""
    return absolute if absolute <= 0.0 else max(absolute, relative)


def check(
    jpeg: bytes, image: np.ndarray | None = None, previous: np.ndarray | None = None, baseline: Baseline | None = None
) -> Verdict:
    """Score a frame. ``jpeg`` is what will be stored; ``image`` its decoded ``HxWx3 uint8 BGR``
    or its full-range luma (``HxW uint8``, e.g. the Y plane it was encoded from; decoded from
    ``jpeg`` when None); ``previous`` the ``gray`` of the previous kept frame's
    verdict; ``baseline`` the recent kept frames' :class:`Baseline` (None: none yet). Blocking
    (decode, filters): run it off the event loop."""
    import cv2  # OpenCV only once this is used (a snapshot-only bridge never loads it)

    if not jpeg.rstrip(b"\x00").endswith(JPEG_EOI) and jpeg.startswith(JPEG_SOI):
        return Verdict(0.0, "truncated", ("truncated",), {"truncated": 0.0})
    if image is None:
        image = decode(jpeg)
    if image is None:
        return Verdict(0.0, "undecodable", ("undecodable",), {"undecodable": 0.0})
    height, width = image.shape[:2]
    if width > MEASURE_WIDTH:
        small = cv2.resize(
            image, (MEASURE_WIDTH, max(1, round(height * MEASURE_WIDTH / width))), interpolation=cv2.INTER_AREA
        )
    else:
        small = image
    luma = small if small.ndim == 2 else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    mean, std = (float(v[0][0]) for v in cv2.meanStdDev(luma))
    sharpness = float(cv2.Laplacian(luma, cv2.CV_64F).var()) / max(std * std, 1.0)
    if baseline is None:
        rel_over = rel_uniform = rel_blur = 1.0
    else:
        rel_over = _ramp(mean - baseline.mean, *REL_OVEREXPOSED)
        rel_uniform = _ramp(std / max(baseline.std, 1e-6), *REL_UNIFORM)
        rel_blur = _ramp(sharpness / max(baseline.sharpness, 1e-9), *REL_BLUR)
    scores = {
        "dark": _ramp(mean, *DARK),
        "overexposed": _relative(_ramp(mean, *OVEREXPOSED), rel_over),
        "uniform": _relative(_ramp(std, *UNIFORM), rel_uniform),
    }
    # blur means nothing on a flat frame: only judged when there is something to be sharp
    scores["blurred"] = _relative(_ramp(sharpness, *BLUR), rel_blur) if scores["uniform"] > 0 else 1.0
    thumb_h = max(1, round(luma.shape[0] * CHANGE_WIDTH / luma.shape[1]))
    gray = cv2.resize(luma, (CHANGE_WIDTH, thumb_h), interpolation=cv2.INTER_AREA).astype(np.float32)
    gray -= gray.mean()
    if previous is not None and previous.shape == gray.shape:
        norm = float(np.sqrt((gray * gray).sum() * (previous * previous).sum()))
        if norm > 0:  # a flat frame has no layout to compare
            scores["sudden_change"] = _ramp(float((gray * previous).sum()) / norm, *CHANGE)
    reason = min(scores, key=lambda k: scores[k])
    score = scores[reason]
    flags = tuple(k for k, v in scores.items() if v < 1.0)
    return Verdict(
        round(score, 3),
        reason if score < 1.0 else None,
        flags,
        {k: round(v, 3) for k, v in scores.items()},
        gray,
        {"mean": mean, "std": std, "sharpness": sharpness},
    )
