"""Best snapshots: per label, the JPEG of the current or last event's best frame with the
object's box drawn, renewed at an event's start and when its score improves."""

from __future__ import annotations

from ..capture import Frame, picture
from .tracker import Track

#: a newer snapshot of an ongoing event is made when its score beats the last one by this
SCORE_GAIN = 0.02
MIN_INTERVAL = 1.0  #: seconds, at least, between two snapshots of one label and event
QUALITY = 80
#: the box colour, red, as full-range BT.601 (Y, Cb, Cr): the box is drawn on the YUV planes
RED = (76, 85, 255)


class BestSnapshots:
    """Decides which events deserve a new picture and draws it (one camera, not thread-safe).

    ``max_width`` (pixels, None = full size) is the size of the pictures.
    """

    def __init__(self, max_width: int | None = None) -> None:
        self._max_width = max_width
        self._best: dict[str, tuple[str, float, float]] = {}  # label -> (track id, score, time)

    def make(self, frame: Frame, events: list[tuple[str, Track]], now: float) -> dict[str, bytes]:
        """Label -> JPEG for the labels whose ``events`` (this frame's) start an event or raise
        its best score; marks the pictured tracks ``snapshot_available``. ``now`` is monotonic
        seconds. Blocking (colour conversion, JPEG encode)."""
        import cv2  # OpenCV only once this is used (a snapshot-only bridge never loads it)

        chosen: dict[str, Track] = {}
        for kind, track in events:
            if kind == "end":
                continue
            best = self._best.get(track.label)
            fresh = kind == "new" or best is None or (best[0] != track.id and best[1] < track.top_score)
            better = (best is not None and best[0] == track.id and track.top_score >= best[1] + SCORE_GAIN
                      and now - best[2] >= MIN_INTERVAL)
            if (fresh or better) and (track.label not in chosen or chosen[track.label].top_score < track.top_score):
                chosen[track.label] = track
        if not chosen:
            return {}
        planes = frame.yuv420(self._max_width)  # drawn and encoded in YUV: no BGR round trip
        out: dict[str, bytes] = {}
        for label, track in chosen.items():
            drawn = tuple(plane.copy() for plane in planes)
            h, w = drawn[0].shape
            box = (int(track.box[0] * w), int(track.box[1] * h), int(track.box[2] * w), int(track.box[3] * h))
            text = f"{label} {track.score:.0%}"
            for plane, value in zip(drawn, RED, strict=True):
                f = plane.shape[1] / w  # 1 for Y, 1/2 for the 4:2:0 chroma planes
                x1, y1, x2, y2 = (round(c * f) for c in box)
                cv2.rectangle(plane, (x1, y1), (x2, y2), value, max(1, round(max(2, w // 400) * f)))
                cv2.putText(plane, text, (x1, max(round(12 * f), y1 - round(6 * f))),
                            cv2.FONT_HERSHEY_SIMPLEX, max(0.5, w / 1600) * f, value,
                            max(1, round(max(1, w // 800) * f)))
            try:
                out[label] = picture.encode_planes(drawn, QUALITY)
            except ValueError:
                continue
            self._best[label] = (track.id, track.top_score, now)
            track.snapshot_available = True
        return out
