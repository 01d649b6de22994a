"""pyarrow, imported with the allocator the fast engine is measured with.

Arrow's default allocator here, mimalloc, keeps tens of MB of freed memory over a large
file; jemalloc with one arena that purges freed pages quickly keeps the peak ~10 MB lower
again, at no measurable cost (docs/benchmarks.md). Arrow reads that choice from the
environment once, when its first buffer is allocated: it is put there for that moment and
taken away again, so importing this module leaves the process's environment as it was (and
never overrides a choice already made there).
"""

from __future__ import annotations

import os
import sys

_ALLOCATOR = {
    "ARROW_DEFAULT_MEMORY_POOL": "jemalloc",
    "JE_ARROW_MALLOC_CONF": "narenas:1,dirty_decay_ms:200,muzzy_decay_ms:0",
}


def _import_pyarrow():
    if "pyarrow" in sys.modules:  # imported already: its allocator is chosen
        import pyarrow

        return pyarrow
    added = [name for name in _ALLOCATOR if name not in os.environ]
    os.environ.update({name: _ALLOCATOR[name] for name in added})
    try:
        import pyarrow

        pyarrow.allocate_buffer(1)  # the pool and its allocator are set up now
    finally:
        for name in added:
            os.environ.pop(name, None)
    return pyarrow


pa = _import_pyarrow()

import pyarrow.compute as pc  # noqa: E402  (after the allocator is chosen)
import pyarrow.csv as pacsv  # noqa: E402

__all__ = ["pa", "pacsv", "pc"]
