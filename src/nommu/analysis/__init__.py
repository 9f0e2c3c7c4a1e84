"""Analyses of a machine's memory: pure functions over frozen snapshots.

:func:`capture` (in :mod:`.snapshot`) is the one function here that reads a
live :class:`~nommu.Machine`; it returns a :class:`MachineSnapshot` of frozen
values. Everything else takes snapshots (or the frozen
:class:`~nommu.mm.nommu.AllocFailure`) and returns frozen results, so an
analysis can never change the machine and the same snapshot always gives the
same answer.

- :mod:`.fragmentation`: free pages per order, the largest free block, the
  kernel's unusable free space index and fragmentation index.
- :mod:`.footprint`: what each process costs: text, data, bss, stack, heap,
  slack, shared, and a proportional share (PSS).
- :mod:`.failure`: why an allocation failed: the order needed, the largest
  free block, what sits in the way of the best candidate block and whose it
  is, and what would have let it succeed.
- :mod:`.memmap`: physical memory as runs of pages by kind and owner.

Usage::

    snap = capture(machine, label="after boot")
    frag = fragmentation(snap.nr_free, snap.free_pages, snap.page_size)
    rows = footprints(snap)
"""

from nommu.analysis.failure import FailureExplanation as FailureExplanation
from nommu.analysis.failure import explain_failure as explain_failure
from nommu.analysis.footprint import Footprint as Footprint
from nommu.analysis.footprint import footprints as footprints
from nommu.analysis.fragmentation import Fragmentation as Fragmentation
from nommu.analysis.fragmentation import fragmentation as fragmentation
from nommu.analysis.memmap import MapRun as MapRun
from nommu.analysis.memmap import memory_map as memory_map
from nommu.analysis.snapshot import MachineSnapshot as MachineSnapshot
from nommu.analysis.snapshot import capture as capture

__all__ = [
    "FailureExplanation",
    "Footprint",
    "Fragmentation",
    "MachineSnapshot",
    "MapRun",
    "capture",
    "explain_failure",
    "footprints",
    "fragmentation",
    "memory_map",
]
