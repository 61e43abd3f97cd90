"""Timelapses: scheduled capture from the camera pipeline, frame quality checks, crash-safe
storage, ffmpeg renders and retention (see docs/timelapse.md)."""
