"""Person/object detection: motion gating, detectors (ONNX, HOG), tracking, events.

``bridge.config`` imports this package's option tables; importing it first keeps that order
whichever module is imported first.
"""

from .. import config as _config  # noqa: F401
