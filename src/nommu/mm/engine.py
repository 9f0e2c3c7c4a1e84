"""Which mapping engine a machine runs: the one place the mm design is chosen.

``KernelProfile.mm_design`` names the design of a kernel version
(``"regions"`` from 2.6.29 on, ``"shared-vmas"`` before); ``Machine(design=)``
may ask for a what-if design instead. Everything else talks to the engine
through the interface of :class:`~nommu.mm.nommu.Nommu`.
"""

from __future__ import annotations

from collections.abc import Callable

from nommu.mm.memory import PhysicalMemory
from nommu.mm.nommu import Nommu
from nommu.mm.page_alloc import BuddyAllocator
from nommu.profiles import KernelProfile


def make_engine(
    mm_design: str,
    memory: PhysicalMemory,
    zone: BuddyAllocator,
    *,
    page_size: int,
    log: Callable[[str], None],
    nr_trim_pages: int,
    max_map_count: int,
    allow_uninitialized: bool,
    mremap_variant: str,
    word_bits: int,
    ideal: bool,
    kernel: KernelProfile,
    no_direct_fstypes: frozenset[str] = frozenset(),
) -> Nommu:
    """The engine of *mm_design* (``"regions"``, ``"shared-vmas"`` or ``"pagecache"``)."""
    if mm_design == "shared-vmas":
        from nommu.mm.shared_vma import SharedVmaNommu

        return SharedVmaNommu(
            memory,
            zone,
            page_size=page_size,
            log=log,
            max_map_count=max_map_count,
            word_bits=word_bits,
            ideal=ideal,
            kernel=kernel,
            no_direct_fstypes=no_direct_fstypes,
        )
    if mm_design not in ("regions", "pagecache"):
        raise ValueError(f"design: {mm_design!r} is not modelled yet")
    engine = Nommu
    if mm_design == "pagecache":
        from nommu.mm.pagecache_design import PageCacheNommu

        engine = PageCacheNommu
    return engine(
        memory,
        zone,
        page_size=page_size,
        log=log,
        nr_trim_pages=nr_trim_pages,
        max_map_count=max_map_count,
        allow_uninitialized=allow_uninitialized,
        mremap_variant=mremap_variant,
        word_bits=word_bits,
        kernel=kernel,
    )
