"""Person/object detection: motion gating, detectors (ONNX, HOG), tracking, events.

Its options are declared in ``bridge.config.detect``.
"""
