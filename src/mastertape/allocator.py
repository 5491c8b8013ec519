"""Allocator tuning for one-shot processing commands (`mastertape master`, `analyze`, `restore`).

The chain allocates and frees block-sized numpy temporaries of a few MB thousands of times. glibc's malloc
serves requests above its mmap threshold (128 kB at start, raised adaptively up to 32 MB as such blocks
are freed) with fresh mmap() regions, and every page of a fresh region faults when first written: on a
3-minute master that was about 70,000 page faults and 0.1 s of a 1.7 s run. Fixing the thresholds keeps
those blocks in the heap, where freed memory is reused without faulting again (mallopt(3); the same as
setting MALLOC_MMAP_THRESHOLD_ and MALLOC_TRIM_THRESHOLD_ in the environment). Peak RSS does not change;
the process just keeps freed memory until it exits, so this is for short-lived commands only, not for the
long-running server and workers.
"""

from __future__ import annotations

import ctypes
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Requests below this come from the heap; whole-signal arrays above it still get their own mapping.
MMAP_THRESHOLD_BYTES = 256 << 20
#: Free memory at the top of the heap is given back to the system only beyond this.
TRIM_THRESHOLD_BYTES = 512 << 20


def tune_for_batch_processing() -> bool:
    """Apply the thresholds above where the C library is glibc; returns whether they were applied
    (False elsewhere: musl, macOS, Windows keep their defaults)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the running process's C library; no ldconfig lookup
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
