"""Best snapshots: per label, the JPEG of the current or last event's best frame with the
object's box drawn (and a crop around the box), renewed at an event's start and when its score
improves. The picture is the snapshot stream's, at its full size: the detection frame itself on a
camera with one stream, else the snapshot stream's keyframe nearest in time (``picture_for``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..capture import Frame, picture
from .tracker import Track

#: a newer snapshot of an ongoing event is made when its score beats the last one by this
SCORE_GAIN = 0.02
MIN_INTERVAL = 1.0  #: seconds, at least, between two snapshots of one label and event
QUALITY = 80
#: the box colour, red, as full-range BT.601 (Y, Cb, Cr): the box is drawn on the YUV planes
RED = (76, 85, 255)
#: a crop reaches this fraction of the box's size beyond it on each side
CROP_MARGIN = 0.25


@dataclass(frozen=True)
class EventPicture:
    """An event's snapshot: ``jpeg`` (the whole picture, box drawn), ``crop`` (the box with a
    margin, JPEG), ``width``/``height`` of the whole picture in pixels, the event's ``event_id``,
    ``taken_at`` (epoch seconds of the picture's packet)."""

    jpeg: bytes
    crop: bytes
    width: int
    height: int
    event_id: str
    taken_at: float


class BestSnapshots:
    """Decides which events deserve a new picture and draws it (one camera, not thread-safe).

    ``max_width`` (pixels, None = full size) is the size of the pictures.
    """

    def __init__(self, max_width: int | None = None, quality: int = QUALITY) -> None:
        self._max_width = max_width
        self._quality = quality
        self._best: dict[str, tuple[str, float, float]] = {}  # label -> (track id, score, time)

    def make(
        self,
        frame: Frame,
        events: list[tuple[str, Track]],
        now: float,
        picture_for: Callable[[Frame], Frame] | None = None,
    ) -> dict[str, EventPicture]:
        """Label -> :class:`EventPicture` for the labels whose ``events`` (detection frame
        ``frame``'s) start an event or raise its best score; marks the pictured tracks
        ``snapshot_available``. ``picture_for(frame)`` gives the picture to draw on (the snapshot
        stream's nearest, e.g. ``Camera.snapshot_picture``; default ``frame``): the box, relative
        to the frame, is scaled to that picture's pixels. ``now`` is monotonic seconds. Blocking
        (decode, colour conversion, JPEG encode)."""
        import cv2  # OpenCV only once this is used (a snapshot-only bridge never loads it)

        chosen: dict[str, Track] = {}
        for kind, track in events:
            if kind == "end":
                continue
            best = self._best.get(track.label)
            fresh = kind == "new" or best is None or (best[0] != track.id and best[1] < track.top_score)
            better = (
                best is not None
                and best[0] == track.id
                and track.top_score >= best[1] + SCORE_GAIN
                and now - best[2] >= MIN_INTERVAL
            )
            if (fresh or better) and (track.label not in chosen or chosen[track.label].top_score < track.top_score):
                chosen[track.label] = track
        if not chosen:
            return {}
        source = picture_for(frame) if picture_for is not None else frame
        try:
            planes = source.yuv420(self._max_width)  # drawn and encoded in YUV: no BGR round trip
        except ValueError:
            if source is frame:
                raise
            source, planes = frame, frame.yuv420(self._max_width)  # the keyframe did not decode
        out: dict[str, EventPicture] = {}
        for label, track in chosen.items():
            drawn = (planes[0].copy(), planes[1].copy(), planes[2].copy())
            h, w = drawn[0].shape
            box = (int(track.box[0] * w), int(track.box[1] * h), int(track.box[2] * w), int(track.box[3] * h))
            text = f"{label} {track.score:.0%}"
            for plane, value in zip(drawn, RED, strict=True):
                f = plane.shape[1] / w  # 1 for Y, 1/2 for the 4:2:0 chroma planes
                x1, y1, x2, y2 = (round(c * f) for c in box)
                cv2.rectangle(plane, (x1, y1), (x2, y2), value, max(1, round(max(2, w // 400) * f)))
                cv2.putText(
                    plane,
                    text,
                    (x1, max(round(12 * f), y1 - round(6 * f))),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    max(0.5, w / 1600) * f,
                    value,
                    max(1, round(max(1, w // 800) * f)),
                )
            try:
                jpeg = picture.encode_planes(drawn, self._quality)
                crop = picture.encode_planes(_crop(planes, track.box), self._quality)
            except ValueError:
                continue
            out[label] = EventPicture(jpeg, crop, w, h, track.id, source.time)
            self._best[label] = (track.id, track.top_score, now)
            track.snapshot_available = True
        return out


def _crop(planes: picture.Planes, box: tuple[float, float, float, float]) -> picture.Planes:
    """The region of ``box`` (relative) grown by ``CROP_MARGIN`` on each side, clipped to the
    picture, of 4:2:0 ``planes`` (even pixel bounds, so the chroma planes line up; views)."""
    h, w = planes[0].shape
    bw, bh = box[2] - box[0], box[3] - box[1]
    x1 = max(0, int((box[0] - bw * CROP_MARGIN) * w)) // 2 * 2
    y1 = max(0, int((box[1] - bh * CROP_MARGIN) * h)) // 2 * 2
    x2 = min(w, round((box[2] + bw * CROP_MARGIN) * w))
    y2 = min(h, round((box[3] + bh * CROP_MARGIN) * h))
    x2, y2 = max(x1 + 16, x2 + x2 % 2), max(y1 + 16, y2 + y2 % 2)
    x2, y2 = min(x2, w - w % 2), min(y2, h - h % 2)
    y, cb, cr = planes
    return (y[y1:y2, x1:x2], cb[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2], cr[y1 // 2 : y2 // 2, x1 // 2 : x2 // 2])
