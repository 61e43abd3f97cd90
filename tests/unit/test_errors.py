"""The one error table of the API: each kind has its status, JSON-RPC code and error string,
and an error's most specific kind wins."""

from __future__ import annotations

from bridge.api.errors import ERROR_TABLE, answer_for
from bridge.core import errors
from bridge.registry import CameraConflict, InvalidCamera, UnknownCamera
from bridge.timelapse.state import InvalidTimelapse, TimelapseConflict, UnknownTimelapse


def test_every_kind_has_an_answer():
    kinds = [errors.NotFound, errors.Conflict, errors.Invalid, errors.Unavailable, errors.Forbidden,
             errors.NoSnapshot, errors.StaleSnapshot, errors.NotSaved, errors.NotRunning, errors.MediamtxDisabled,
             errors.MediamtxDown]
    assert set(kinds) == set(ERROR_TABLE)


def test_domain_errors_map_by_their_kind_and_carry_no_status():
    for err, status, code in [(UnknownCamera("x"), 404, "not_found"), (UnknownTimelapse("x"), 404, "not_found"),
                              (CameraConflict("x"), 409, "conflict"), (TimelapseConflict("x"), 409, "conflict"),
                              (InvalidCamera(["a: b"]), 400, "invalid_config"),
                              (InvalidTimelapse(["a: b"]), 400, "invalid_config")]:
        answer = answer_for(err)
        assert answer is not None and (answer.status, answer.error) == (status, code), err
        assert not hasattr(err, "status") and not hasattr(err, "code")


def test_the_most_specific_kind_wins():
    answer = answer_for(errors.MediamtxDisabled("off"))
    assert answer is not None and (answer.status, answer.rpc_code, answer.error) == (409, -32008, "mediamtx_disabled")
    answer = answer_for(errors.NoSnapshot("none yet", "backoff"))
    assert answer is not None and answer.extra(errors.NoSnapshot("none yet", "backoff")) == {"state": "backoff"}
    assert answer_for(ValueError("not ours")) is None
