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
