"""Which live member should own which camera: rendezvous (highest random weight) hashing.

Thaler and Ravishankar, "Using name-based mappings to increase hit rates", IEEE/ACM ToN 6(1),
1998. Each camera goes to the member with the highest ``weight(member, camera)``. When a member
joins, only the cameras it now wins move (to it), about 1/N of them; when one leaves, only its
cameras move. No camera moves twice for one change of membership.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping


def weight(member: str, camera: str) -> int:
    """A 64-bit pseudo-random weight of the pair (SHA-256 of ``member NUL camera``)."""
    digest = hashlib.sha256(f"{member}\0{camera}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def owner(camera: str, members: Iterable[str]) -> str | None:
    """The member that should own ``camera``; None when there are no members."""
    best: tuple[int, str] | None = None
    for member in members:
        key = (weight(member, camera), member)
        if best is None or key > best:
            best = key
    return None if best is None else best[1]


def assign(cameras: Iterable[str], members: Iterable[str], current: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{camera: member}``: balanced (loads differ by at most one) and sticky.

    ``current`` is today's ``{camera: owner}``. A camera stays with its current owner while that
    owner is a member and has room (``ceil(N / M)``); every other camera goes to the
    highest-weight member with room (rendezvous hashing with bounded loads, after Mirrokni,
    Thorup and Zadimoghaddam, "Consistent hashing with bounded loads", SODA 2018). Then a member
    below ``floor(N / M)`` (one that just joined) takes, one at a time, the camera of an
    over-full member that it weighs highest. So a joining member takes about 1/M of the cameras
    and nothing else moves; a leaving member's cameras are spread over the others. Deterministic:
    every bridge computes the same map from the same inputs. Empty when there are no members.
    """
    live = sorted(set(members))
    names = sorted(set(cameras))
    if not live:
        return {}
    room, floor = -(-len(names) // len(live)), len(names) // len(live)
    load = dict.fromkeys(live, 0)
    result: dict[str, str] = {}
    for camera in names:
        held = (current or {}).get(camera)
        if held in load and load[held] < room:
            load[held] += 1
            result[camera] = held
    for camera in names:
        if camera in result:
            continue
        for member in sorted(live, key=lambda m: (weight(m, camera), m), reverse=True):
            if load[member] < room:
                load[member] += 1
                result[camera] = member
                break
    while True:
        poor = [m for m in live if load[m] < floor]
        if not poor:
            return result
        taker = poor[0]
        moves = [(weight(taker, c), c) for c, m in result.items() if load[m] > floor]
        if not moves:
            return result
        _, camera = max(moves)
        load[result[camera]] -= 1
        load[taker] += 1
        result[camera] = taker


def share(member: str, cameras: Iterable[str], members: Iterable[str]) -> set[str]:
    """The cameras of ``cameras`` that ``member`` should own among ``members`` (:func:`assign`)."""
    return {camera for camera, m in assign(cameras, members).items() if m == member}
