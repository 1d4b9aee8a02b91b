"""Peak memory of the running process, as the benchmarks report it."""

from __future__ import annotations

import resource


def peak_mb() -> float:
    """Peak resident memory of this process so far, MB: ``VmHWM`` of ``/proc/self/status``.

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that value survives ``exec``, so a subprocess started
    by a big parent reports at least the parent's peak (a 1 GB parent makes a bare ``python -c`` child report
    1,054 MB, against a ``VmHWM`` of 10 MB). ``ru_maxrss`` is the fallback where ``/proc`` is missing.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
