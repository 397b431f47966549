"""The C allocator's free memory goes back to the system (hub.infra.heap.release_free_memory)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from hub.infra import heap

# A fresh process (the test's own allocator state is not the point): start-up frees a large block, which raises
# glibc's mmap threshold, then blocks of 150 KB come from the heap among small ones that stay; freeing the large
# ones leaves their pages resident until they are released.
_SCRIPT = textwrap.dedent("""
    import sys
    from hub.infra import heap

    def rss_mb():
        return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

    start_up = bytearray(40 << 20)
    del start_up
    blocks, kept = [], []
    for _ in range(400):
        blocks.append(bytearray(150_000))
        kept.append(bytearray(2_000))
    del blocks
    before = rss_mb()
    heap.release_free_memory() if sys.argv[1] == "release" else None
    print(before - rss_mb())
""")


def _released_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, mode], capture_output=True, text=True, check=True,
                         timeout=60)
    return float(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not heap.release_free_memory(),
                    reason="glibc's malloc_trim")
def test_freed_blocks_inside_the_heap_go_back_to_the_system() -> None:
    assert _released_mb("keep") < 5  # without the release, the 60 MB freed stay resident
    assert _released_mb("release") > 40
