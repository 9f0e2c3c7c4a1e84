"""One scenario under several kernels and mm designs, measured side by side.

``nommu compare`` runs the same scenario file once per *variant* (a kernel
version, or the newest kernel with a what-if design) and per seed, and
measures at the end of each run what the designs of the 2007 debate differ
in:

- **RAM in mappings**: the bytes the mappings' private copies ask for
  (``mapped``) and what the allocator gave them (``allocated``: whole pages
  of a power-of-two block, trimmed or not, or a kmalloc object); their
  difference is the **slack**.
- **sharing**: how many mappings the processes hold, how many memory
  objects (regions, shared VMAs, page-cache runs) back them, and the RAM
  sharing saves: the bytes of RAM the mappings cover, each mapping counted,
  minus the RAM pages they cover, each page counted once (a small mapping
  inside a shared page counts as saved too; mappings outside RAM, such as
  execute-in-place flash, are not counted).
- **kernel metadata**: the structures each design needs, as objects times
  their size (:data:`METADATA_SIZES`), at the end and at its peak during the
  run (checked after every event).
- **page-cache runs**: for the page-cache design, RAM its runs of files
  that are not in RAM already (disk, NFS, flash) hold.
- **slab held**: for 2.6.24, RAM the SLAB caches hold beyond the live
  objects (per-CPU arrays, free slabs, unused slots).
- **failures**: counted by kind, and the tick of the first one (the time to
  first failure; with several seeds, its distribution).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from nommu.consts import VM_MAPPED_COPY
from nommu.profiles import DEFAULT_KERNEL

if TYPE_CHECKING:
    from nommu.machine import Machine
    from nommu.scenario.schema import Scenario

#: Sizes of the structures each design keeps per mapping, in bytes, 32-bit ARM:
#: ``(struct, sizeof, bytes the allocator gives it, where the size comes from)``.
METADATA_SIZES: dict[str, tuple[tuple[str, int, int, str], ...]] = {
    "shared-vmas": (
        (
            "vm_area_struct",
            88,
            96,
            "2.6.24 include/linux/mm_types.h (no NUMA, with vm_usage); kzalloc: size-96",
        ),
        (
            "vm_list_struct",
            8,
            32,
            "2.6.24 include/asm-arm/mmu.h (next, vma); kzalloc: size-32",
        ),
    ),
    "regions": (
        (
            "vm_area_struct",
            68,
            88,
            "6.12 include/linux/mm_types.h on 32-bit without an MMU (no per-VMA lock, "
            "anon name, swap, NUMA or userfaultfd fields; with vm_region): 68 bytes; the "
            "allocator's size is the model's kobjsize (nommu.proc.task_nommu.K_VMA)",
        ),
        (
            "vm_region",
            44,
            48,
            "6.12 include/linux/mm_types.h struct vm_region (rb_node, flags, start, end, "
            "top, pgoff, file, usage, icache flag): 44 bytes; kobjsize 48 (K_REGION)",
        ),
    ),
    "pagecache": (
        (
            "vm_area_struct",
            68,
            88,
            "as the regions design: one VMA per mapping per process",
        ),
    ),
}


@dataclass(frozen=True, slots=True)
class Variant:
    """One column: a kernel version and an optional what-if design."""

    kernel: str
    design: str | None = None
    ideal: bool = False

    @property
    def label(self) -> str:
        name = self.kernel if self.design is None else f"{self.kernel}+{self.design}"
        return name + (" (ideal)" if self.ideal else "")

    def board_options(self, options: Any) -> dict[str, Any]:
        """The scenario's ``[board]`` options with this variant's kernel and design."""
        opts = dict(options)
        opts["kernel"] = self.kernel
        opts["ideal"] = self.ideal
        if self.design is not None:
            opts["design"] = self.design
        else:
            opts.pop("design", None)
        if self.kernel == "2.6.24":
            # options 2.6.24 did not have: the board's values of the newest kernel do not apply
            opts.pop("nr_trim_pages", None)
            opts.pop("allow_uninitialized", None)
            opts.pop("mremap", None)
        return opts


@dataclass(frozen=True, slots=True)
class MetadataRow:
    struct: str
    count: int
    size: int
    allocated: int
    source: str

    @property
    def bytes(self) -> int:
        return self.count * self.allocated


@dataclass(frozen=True, slots=True)
class Measure:
    """What one run of one variant shows at its end."""

    seed: int
    mappings: int
    objects: int
    mapped: int
    allocated: int
    shared_saving: int
    pagecache_runs: int
    slab_held: int
    free: int
    min_free: int
    largest_free: int
    metadata: tuple[MetadataRow, ...]
    failures: int
    unexpected: int
    kinds: tuple[tuple[str, int], ...]
    first_failure_tick: int | None
    first_failure: str | None
    events: int
    ticks: int
    #: (bytes, mappings, memory objects) when the kernel metadata was largest
    peak_metadata: tuple[int, ...] = (0, 0, 0)

    @property
    def slack(self) -> int:
        return self.allocated - self.mapped

    @property
    def metadata_bytes(self) -> int:
        return sum(r.bytes for r in self.metadata)


@dataclass(frozen=True, slots=True)
class VariantResult:
    variant: Variant
    runs: tuple[Measure, ...]

    @property
    def first(self) -> Measure:
        return self.runs[0]

    def time_to_first_failure(self) -> dict[str, Any]:
        """The distribution over seeds: ticks of the runs that failed, and how many did not."""
        ticks = [r.first_failure_tick for r in self.runs if r.first_failure_tick is not None]
        out: dict[str, Any] = {
            "runs": len(self.runs),
            "failed": len(ticks),
            "never_failed": len(self.runs) - len(ticks),
        }
        if ticks:
            out.update(min=min(ticks), median=statistics.median(ticks), max=max(ticks))
        return out


def measure(machine: Machine, result: Any, seed: int) -> Measure:
    """The figures of :class:`Measure` from a finished run's machine and result."""
    engine = machine.nommu
    page = machine.page_size
    mappings = 0
    seen: set[int] = set()
    total = 0  # bytes of RAM the processes' mappings cover, counted once per mapping
    pages: set[int] = set()  # the RAM pages they cover, each once
    ram_lo, ram_hi = machine.ram_base, machine.ram_base + machine.ram_size
    shift = machine.page_shift
    for p in machine.processes:
        mm = p.mm
        if mm is not None and id(mm) not in seen:
            seen.add(id(mm))
            for v in mm.vmas():
                mappings += 1
                if ram_lo <= v.vm_start < ram_hi and v.vm_end > v.vm_start:
                    total += v.vm_end - v.vm_start
                    pages.update(range(v.vm_start >> shift, (v.vm_end - 1 >> shift) + 1))
    saving = max(total - (len(pages) << shift), 0)
    objects = mapped = allocated = 0
    kmalloc = getattr(engine, "kmalloc", None)
    for r in engine.regions:
        objects += 1
        size = max(r.vm_end - r.vm_start, 0)
        if r.vm_flags & VM_MAPPED_COPY:
            mapped += size
            if kmalloc is not None:
                allocated += kmalloc.ksize(r.vm_start)
            else:
                first, end = engine.copy_pfns(r)
                allocated += (end - first) * page
    slab_held = 0
    if kmalloc is not None:
        live = sum(kmalloc.ksize(a) for a in list(kmalloc._live))
        slab_held = kmalloc.slab_pages() * page - live
    metadata = metadata_rows(machine, mappings, objects)
    kinds = Counter(f.key for f in result.failures)
    first_rec = result.failures[0] if result.failures else None
    return Measure(
        seed=seed,
        mappings=mappings,
        objects=objects,
        mapped=mapped,
        allocated=allocated,
        shared_saving=saving,
        pagecache_runs=getattr(engine, "run_pages", 0) * page,
        slab_held=slab_held,
        free=machine.zone.free_count * page,
        min_free=result.min_free_pages * page,
        largest_free=(1 << order) * page
        if (order := machine.zone.largest_free_order()) >= 0
        else 0,
        metadata=metadata,
        failures=result.total_failures,
        unexpected=result.unexpected_failures,
        kinds=tuple(sorted(kinds.items())),
        first_failure_tick=first_rec.tick if first_rec is not None else None,
        first_failure=(
            f"{first_rec.call} = -1 {first_rec.errno}" if first_rec is not None else None
        ),
        events=result.events,
        ticks=result.ticks,
    )


def structure_counts(machine: Machine) -> tuple[int, int]:
    """Mappings (VMAs or vm_list_structs, hidden ones included) and memory objects now."""
    seen: set[int] = set()
    mappings = 0
    for p in machine.procs.values():
        mm = p.mm
        if mm is not None and id(mm) not in seen:
            seen.add(id(mm))
            mappings += mm.map_count
    return mappings, len(machine.nommu.regions)


def metadata_rows(machine: Machine, mappings: int, objects: int) -> tuple[MetadataRow, ...]:
    """Objects times size of each structure the machine's design keeps."""
    design = machine.mm_design
    rows = []
    for struct, size, allocated, source in METADATA_SIZES[design]:
        if design == "shared-vmas":
            count = objects if struct == "vm_area_struct" else mappings
        elif struct == "vm_region":
            count = objects
        else:
            count = mappings
        rows.append(MetadataRow(struct, count, size, allocated, source))
    return tuple(rows)


def reap_interval(scenario: Scenario, reap_every: int | None) -> int | None:
    """Ticks between two ``cache_reap`` passes: *reap_every*, else 2 s of scenario time."""
    if reap_every is not None:
        return reap_every if reap_every > 0 else None
    if scenario.tick_seconds:
        return max(1, round(2.0 / scenario.tick_seconds))
    return None


def run_variant(
    scenario: Scenario,
    variant: Variant,
    seeds: Sequence[int | None],
    progress: Callable[[str], Any] | None = None,
    reap_every: int | None = None,
) -> VariantResult:
    """Run *scenario* under *variant* once per seed.

    A 2.6.24 machine's SLAB caches are reaped every :func:`reap_interval`
    ticks (never when the scenario gives no time and *reap_every* is None).
    *progress*, given the run's label, returns the runner's progress callback
    (with a ``stop()``) or None.
    """
    from nommu.scenario.engine import Runner

    interval = reap_interval(scenario, reap_every)

    class ReapingRunner(Runner):
        """The scenario runner with ``cache_reap``'s timer on scenario ticks."""

        next_reap = interval or 0

        peak: tuple[int, ...] = (0, 0, 0)

        def _bookkeeping(self) -> Callable[[], None]:
            """The runner's bookkeeping after every event, with the peak and the reaping."""
            inner = super()._bookkeeping()
            machine = self.machine

            def after_event() -> None:
                mappings, objects = structure_counts(machine)
                total = sum(r.bytes for r in metadata_rows(machine, mappings, objects))
                if total > self.peak[0]:
                    self.peak = (total, mappings, objects)
                if interval is not None and self.tick >= self.next_reap:
                    kmalloc = getattr(machine.nommu, "kmalloc", None)
                    while self.tick >= self.next_reap:
                        if kmalloc is not None:
                            kmalloc.cache_reap()
                        self.next_reap += interval
                inner()

            return after_event

    board = replace(
        scenario.board,
        options=MappingProxyType(variant.board_options(scenario.board.options)),
    )
    variant_scenario = replace(scenario, board=board)
    runs = []
    for seed in seeds:
        bar = None
        if progress is not None:
            bar = progress(f"{variant.label}, seed {seed if seed is not None else scenario.seed}")
        runner = ReapingRunner(variant_scenario, seed=seed, progress=bar)
        try:
            result = runner.run()
        finally:
            if bar is not None:
                bar.stop()
        measured = measure(runner.machine, result, result.seed)
        runs.append(replace(measured, peak_metadata=runner.peak))
    return VariantResult(variant, tuple(runs))


def default_variants() -> list[Variant]:
    """2.6.24, the newest kernel, and the newest kernel with the page-cache design."""
    return [Variant("2.6.24"), Variant(DEFAULT_KERNEL), Variant(DEFAULT_KERNEL, "pagecache")]


def to_json(scenario: Scenario, results: Sequence[VariantResult]) -> dict[str, Any]:
    """The comparison as JSON (docs/json.md, "nommu compare")."""
    return {
        "scenario": scenario.name,
        "path": scenario.path,
        "variants": [
            {
                "label": vr.variant.label,
                "kernel": vr.variant.kernel,
                "design": vr.variant.design,
                "ideal": vr.variant.ideal,
                "time_to_first_failure": vr.time_to_first_failure(),
                "runs": [
                    {
                        "seed": m.seed,
                        "events": m.events,
                        "ticks": m.ticks,
                        "mappings": m.mappings,
                        "memory_objects": m.objects,
                        "mapped_bytes": m.mapped,
                        "allocated_bytes": m.allocated,
                        "slack_bytes": m.slack,
                        "shared_saving_bytes": m.shared_saving,
                        "pagecache_run_bytes": m.pagecache_runs,
                        "slab_held_bytes": m.slab_held,
                        "free_bytes": m.free,
                        "min_free_bytes": m.min_free,
                        "largest_free_bytes": m.largest_free,
                        "kernel_metadata": [
                            {
                                "struct": r.struct,
                                "count": r.count,
                                "sizeof": r.size,
                                "allocated": r.allocated,
                                "bytes": r.bytes,
                                "source": r.source,
                            }
                            for r in m.metadata
                        ],
                        "kernel_metadata_bytes": m.metadata_bytes,
                        "kernel_metadata_peak": {
                            "bytes": m.peak_metadata[0],
                            "mappings": m.peak_metadata[1],
                            "memory_objects": m.peak_metadata[2],
                        },
                        "failures": m.failures,
                        "unexpected_failures": m.unexpected,
                        "failure_kinds": dict(m.kinds),
                        "first_failure_tick": m.first_failure_tick,
                        "first_failure": m.first_failure,
                    }
                    for m in vr.runs
                ],
            }
            for vr in results
        ],
    }


def table_rows(results: Sequence[VariantResult]) -> list[tuple[str, list[str]]]:
    """The side-by-side table: one row per figure, one column per variant (first seed)."""

    def kib(n: int) -> str:
        return f"{n / 1024:,.1f} KiB"

    def ttff(vr: VariantResult) -> str:
        d = vr.time_to_first_failure()
        if d["runs"] == 1:
            t = vr.first.first_failure_tick
            return "no failure" if t is None else f"tick {t}"
        if not d["failed"]:
            return f"none failed in {d['runs']} seeds"
        return (
            f"{d['failed']}/{d['runs']} seeds failed: tick min {d['min']}, median "
            f"{d['median']:g}, max {d['max']}"
        )

    rows: list[tuple[str, list[str]]] = [
        ("mappings (per process)", [str(vr.first.mappings) for vr in results]),
        ("memory objects", [str(vr.first.objects) for vr in results]),
        ("RAM asked for by copies", [kib(vr.first.mapped) for vr in results]),
        ("RAM given to copies", [kib(vr.first.allocated) for vr in results]),
        ("slack", [kib(vr.first.slack) for vr in results]),
        ("saved by sharing", [kib(vr.first.shared_saving) for vr in results]),
        ("RAM in page-cache runs", [kib(vr.first.pagecache_runs) for vr in results]),
        ("held by SLAB caches", [kib(vr.first.slab_held) for vr in results]),
    ]
    structs = sorted({r.struct for vr in results for r in vr.first.metadata})
    for s in structs:
        cells = []
        for vr in results:
            row = next((r for r in vr.first.metadata if r.struct == s), None)
            cells.append("-" if row is None else f"{row.count} x {row.allocated} B")
        rows.append((f"kernel metadata: {s}", cells))
    rows += [
        ("kernel metadata total", [kib(vr.first.metadata_bytes) for vr in results]),
        (
            "kernel metadata at its peak",
            [
                f"{kib(vr.first.peak_metadata[0])} ({vr.first.peak_metadata[1]} mappings)"
                for vr in results
            ],
        ),
        ("free at the end", [kib(vr.first.free) for vr in results]),
        ("lowest free", [kib(vr.first.min_free) for vr in results]),
        ("largest free block at the end", [kib(vr.first.largest_free) for vr in results]),
        ("failed calls", [str(vr.first.failures) for vr in results]),
        (
            "failure kinds",
            [", ".join(f"{k} x{n}" for k, n in vr.first.kinds) or "-" for vr in results],
        ),
        ("time to first failure", [ttff(vr) for vr in results]),
    ]
    return rows
