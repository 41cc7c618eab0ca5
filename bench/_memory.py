"""The peak resident memory of this process, its own.

``getrusage(RUSAGE_SELF).ru_maxrss`` is not: on Linux a child started by ``subprocess`` keeps the
high-water mark of the parent it was forked from across ``exec``, so a child of a parent that
generated or loaded a large log reports at least the parent's peak (a child that does nothing
reported 967 MB under a parent that had touched 1 GB). ``VmHWM`` in ``/proc/self/status`` belongs
to the process's own address space, made new at ``exec``. Elsewhere ``ru_maxrss`` is used (bytes on
macOS, kilobytes on Linux).
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path


def peak_mb() -> float:
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024
