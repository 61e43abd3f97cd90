"""malloc tuning at start: applied on glibc, and the environment's own settings win."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.peers import REPO

CHECK = "from bridge.memory import tune_malloc; print(tune_malloc())"


def run_check(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run([sys.executable, "-c", CHECK], env={**clean, **env}, cwd=REPO,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.mark.skipif(not os.path.exists("/lib/x86_64-linux-gnu/libc.so.6")
                    and not os.path.exists("/lib/aarch64-linux-gnu/libc.so.6"), reason="glibc only")
def test_malloc_tuned_unless_the_environment_says_otherwise():
    assert run_check({}) == "True"
    every = {"MALLOC_ARENA_MAX": "4", "MALLOC_MMAP_THRESHOLD_": "131072",
             "MALLOC_TRIM_THRESHOLD_": "131072"}
    assert run_check(every) == "False"
    assert run_check({"GLIBC_TUNABLES": "glibc.malloc.arena_max=4"}) == "False"


TRIM = """
import asyncio
from bridge.memory import Trimmer, tune_malloc

def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096

async def main() -> None:
    tune_malloc()
    # 500 x 200 kB from the arena (below the 4 MiB mmap threshold), one in ten kept: what a
    # decoder's pictures freed between a camera's long-lived buffers leave behind
    blocks = [bytearray(200_000) for _ in range(500)]
    kept = blocks[9::10]
    del blocks
    freed = rss()
    async with Trimmer(interval=0.1):
        await asyncio.sleep(0.6)
    print(freed, rss(), len(kept))

asyncio.run(main())
"""


@pytest.mark.skipif(not os.path.exists("/lib/x86_64-linux-gnu/libc.so.6")
                    and not os.path.exists("/lib/aarch64-linux-gnu/libc.so.6"), reason="glibc only")
def test_memory_freed_inside_the_heap_goes_back_to_the_kernel():
    """90 MB freed between live blocks stays resident until the trimmer runs (the trim threshold
    only shrinks a heap from its top); then RSS drops by most of it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES"))}
    out = subprocess.run([sys.executable, "-c", TRIM], env=clean, cwd=REPO, capture_output=True, text=True,
                         check=True, timeout=60)
    before, after, _ = (int(x) for x in out.stdout.split())
    assert before - after >= 60_000_000, f"RSS {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB"
