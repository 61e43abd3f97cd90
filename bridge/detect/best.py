"""Best snapshots: per label, the JPEG of the current or last event's best frame with the
object's box drawn, renewed at an event's start and when its score improves."""

from __future__ import annotations

from ..capture import Frame
from .tracker import Track

#: a newer snapshot of an ongoing event is made when its score beats the last one by this
SCORE_GAIN = 0.02
MIN_INTERVAL = 1.0  #: seconds, at least, between two snapshots of one label and event
QUALITY = 80
RED = (0, 0, 255)


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
        image = frame.bgr(self._max_width)
        out: dict[str, bytes] = {}
        for label, track in chosen.items():
            picture = image.copy()
            h, w = picture.shape[:2]
            x1, y1, x2, y2 = (int(track.box[0] * w), int(track.box[1] * h),
                              int(track.box[2] * w), int(track.box[3] * h))
            cv2.rectangle(picture, (x1, y1), (x2, y2), RED, max(2, w // 400))
            cv2.putText(picture, f"{label} {track.score:.0%}", (x1, max(12, y1 - 6)), cv2.FONT_HERSHEY_SIMPLEX,
                        max(0.5, w / 1600), RED, max(1, w // 800))
            ok, jpeg = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
            if ok:
                out[label] = jpeg.tobytes()
                self._best[label] = (track.id, track.top_score, now)
                track.snapshot_available = True
        return out
