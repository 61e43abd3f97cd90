"""The IoU tracker: ids stay with their objects, events end after disappearance, and the median
score gate keeps one-frame false positives out."""

from __future__ import annotations

from bridge.config.detect import DetectConfig, ObjectFilter
from bridge.detect.tracker import Tracker

PERSON = (0.10, 0.20, 0.20, 0.60)


def moved(box, dx):
    return (box[0] + dx, box[1], box[2] + dx, box[3])


def config(**kw):
    base = {"score_frames": 3, "threshold": 0.6, "max_disappeared": 2,
            "objects": {"person": ObjectFilter(), "car": ObjectFilter(threshold=0.9)}}
    return DetectConfig(**{**base, **kw})


def test_ids_stay_with_their_objects_as_they_move():
    tracker = Tracker(config())
    other = (0.60, 0.20, 0.70, 0.60)
    ids = []
    for step in range(6):
        tracker.update([("person", 0.8, moved(PERSON, 0.01 * step)), ("person", 0.8, moved(other, -0.01 * step))],
                       frame_time=100 + step, now=step)
        ids.append(sorted((t.box[0] < 0.5, t.id) for t in tracker.tracks))
    assert len(tracker.tracks) == 2
    assert all(frame == ids[0] for frame in ids), "ids changed while the objects moved a little"
    assert ids[0][0][1] != ids[0][1][1]


def test_new_after_score_frames_then_end_after_max_disappeared():
    tracker = Tracker(config())
    kinds = [[k for k, _ in tracker.update([("person", 0.8, PERSON)], 100 + i, now=i)] for i in range(3)]
    assert kinds == [[], [], ["new"]]
    assert tracker.counts() == {"person": 1, "car": 0}
    track = tracker.tracks[0]
    assert track.start_time == 100
    gone = [[k for k, _ in tracker.update([], 110 + i, now=10 + i)] for i in range(3)]
    assert gone == [[], [], ["end"]], "ends once missing for more than max_disappeared frames"
    assert track.end_time == 112 and tracker.counts()["person"] == 0
    assert track.end_reason == "left" and track.payload("end", 112)["end_reason"] == "left"
    # back within max_disappeared: the same object, no new event
    tracker = Tracker(config())
    for i in range(3):
        tracker.update([("person", 0.8, PERSON)], i, now=i)
    tracker.update([], 3, now=3)
    tracker.update([], 4, now=4)
    assert [k for k, _ in tracker.update([("person", 0.8, PERSON)], 5, now=5)] == []
    assert len(tracker.tracks) == 1 and tracker.tracks[0].missed == 0


def test_one_frame_false_positive_never_becomes_an_event():
    tracker = Tracker(config())
    events = tracker.update([("person", 0.95, PERSON)], 0, now=0)
    for i in range(1, 5):
        events += tracker.update([], i, now=i)
    assert events == [] and tracker.tracks == []


def test_threshold_gates_on_the_median_and_per_label():
    tracker = Tracker(config())
    scores = [0.9, 0.4, 0.5]  # one high score, median 0.5 < 0.6
    events = [e for i, s in enumerate(scores) for e in tracker.update([("person", s, PERSON)], i, now=i)]
    assert events == []
    events = tracker.update([("person", 0.7, PERSON)], 3, now=3)  # last three: 0.4 0.5 0.7 -> 0.5
    assert events == []
    events = tracker.update([("person", 0.7, PERSON)], 4, now=4)  # 0.5 0.7 0.7 -> 0.7
    assert [k for k, _ in events] == ["new"] and events[0][1].top_score == 0.9
    cars = Tracker(config())
    car = (0.5, 0.5, 0.9, 0.8)
    events = [e for i in range(5) for e in cars.update([("car", 0.85, car)], i, now=i)]
    assert events == [], "car has its own threshold 0.9"


def test_updates_at_most_once_a_second_and_only_on_change():
    tracker = Tracker(config())
    for i in range(3):
        tracker.update([("person", 0.8, PERSON)], i, now=i * 0.2)
    kinds = []
    for i in range(3, 20):  # 0.2 s apart, moving
        kinds += [k for k, _ in tracker.update([("person", 0.8, moved(PERSON, 0.005 * i))], i, now=i * 0.2)]
    assert 2 <= kinds.count("update") <= 4, kinds
    still = [k for i in range(20, 40) for k, _ in tracker.update([("person", 0.8, moved(PERSON, 0.095))], i, now=i * 0.2)]
    assert still.count("update") <= 1, "a still object with an unchanged score keeps quiet"


def test_zones_follow_the_bottom_centre():
    cfg = config(zones={"porch": ((0.0, 0.5), (0.5, 0.5), (0.5, 1.0), (0.0, 1.0)),
                        "road": ((0.5, 0.0), (1.0, 0.0), (1.0, 1.0), (0.5, 1.0))})
    tracker = Tracker(cfg)
    events = [e for i in range(3) for e in tracker.update([("person", 0.8, PERSON)], i, now=i)]
    assert events[0][1].zones == ("porch",)
    assert events[0][1].payload("new", 2)["zones"] == ["porch"]
