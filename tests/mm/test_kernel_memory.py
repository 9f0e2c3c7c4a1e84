"""The realistic kernel: kernel stacks, slab, watermarks, the OOM killer, reclaim.

Figures come from the kernel's own arithmetic (mm/page_alloc.c
calculate_min_free_kbytes, __setup_per_zone_wmarks, __zone_watermark_ok;
mm/oom_kill.c select_bad_process, oom_badness; kernel/fork.c copy_process)
and from the real 6.1 RISC-V 64 kernel in QEMU (169 min-watermark pages on a
32 MiB board; an order-2 kernel stack per vfork).
"""

from __future__ import annotations

import pytest

import nommu
from nommu.mm.slab import SlabAllocator, slab_order
from nommu.mm.watermark import (
    ALLOC_MIN_RESERVE,
    ALLOC_NON_BLOCK,
    ALLOC_OOM,
    ALLOC_WMARK_MIN,
    calculate_min_free_kbytes,
    setup_per_zone_wmarks,
    zone_watermark_ok,
)
from nommu.scenario import loads_scenario, run_scenario

RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS


def meminfo(m: nommu.Machine, key: str) -> int:
    for line in m.cat("/proc/meminfo").splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def riscv32m(**kw: object) -> nommu.Machine:
    """The QEMU board of the real-kernel probe: 32 MiB, about 28 MiB managed, 6.1."""
    return nommu.Machine(ram="32M", kernel_reserved="4M", arch="riscv64", kernel="6.1", **kw)  # type: ignore[arg-type]


# -- watermarks -------------------------------------------------------------------------
def test_min_free_kbytes_and_the_watermarks_of_the_real_32m_board() -> None:
    m = riscv32m()
    # int_sqrt(28672 kB * 16) = 677; min = 677 >> 2 = 169 pages, as the real kernel showed
    assert m.sysctl("vm.min_free_kbytes") == 677
    assert (m.watermarks.min, m.watermarks.low, m.watermarks.high) == (169, 211, 253)
    assert m.cat("/proc/sys/vm/min_free_kbytes") == "677\n"
    zi = m.cat("/proc/zoneinfo").splitlines()
    assert zi[0] == "Node 0, zone   Normal"
    assert "        min      169" in zi and "        managed  7168" in zi


def test_calculate_min_free_kbytes_clamps() -> None:
    assert calculate_min_free_kbytes(16, 4096) == 128  # sqrt(1024) = 32 < 128
    assert calculate_min_free_kbytes(1 << 30, 4096) == 262144
    marks = setup_per_zone_wmarks(1024, 100000, 4096)
    # low = min + max(min/4, 0.1% of the zone)
    assert (marks.min, marks.low, marks.high, marks.promo) == (256, 356, 456, 556)


def test_writing_min_free_kbytes_moves_the_watermarks() -> None:
    m = riscv32m()
    p = m.spawn()
    fd = p.open("/proc/sys/vm/min_free_kbytes", nommu.O_WRONLY)
    p.write(fd, b"4096\n")
    assert m.watermarks.min == 1024 and m.zone.wmark_min == 1024
    with pytest.raises(nommu.SyscallError) as e:
        p.write(fd, b"-1\n")
    assert e.value.errno == nommu.Errno.EINVAL
    assert m.sysctl("vm.min_free_kbytes", 0) == 0 and m.zone.wmark_min == 0


def test_the_watermark_refuses_a_free_block_and_the_explanation_says_so() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    p = m.spawn(name="app")
    free = m.zone.free_count
    m.sysctl("vm.min_free_kbytes", (free - 10) * 4)  # a min watermark 10 pages below free
    assert m.zone.largest_free_order() >= 4
    with pytest.raises(nommu.SyscallError) as e:  # order 4: above the OOM killer's orders
        p.mmap(0, 64 << 10, RW, ANON)
    assert e.value.errno == nommu.Errno.ENOMEM
    assert "the watermark refused it, not fragmentation" in e.value.detail
    assert m.kmem is not None and m.kmem.slab.caches["vm_area_struct"].inuse == 0  # given back
    failure = m.nommu.last_failure
    assert failure is not None and failure.watermark_refused
    assert failure.watermark_min == free - 10


def test_zone_watermark_ok_follows_the_kernel() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K", ideal=True)
    zone = m.zone
    free = zone.free_count  # 384
    assert not zone_watermark_ok(zone, 0, free, ALLOC_WMARK_MIN)  # free <= mark
    assert zone_watermark_ok(zone, 0, free - 1, ALLOC_WMARK_MIN)
    # an order-3 request does not count its own 7 further pages
    assert not zone_watermark_ok(zone, 3, free - 7, ALLOC_WMARK_MIN)
    assert zone_watermark_ok(zone, 3, free - 8, ALLOC_WMARK_MIN)
    # __GFP_HIGH halves the mark, an atomic request takes a quarter more, OOM half again
    assert zone_watermark_ok(zone, 0, 2 * free - 2, ALLOC_MIN_RESERVE)
    assert zone_watermark_ok(zone, 0, free * 2, ALLOC_MIN_RESERVE | ALLOC_NON_BLOCK)
    assert zone_watermark_ok(zone, 0, 2 * free - 2, ALLOC_OOM)
    assert not zone_watermark_ok(zone, 11, 0, ALLOC_WMARK_MIN)  # no such block


def test_ideal_machines_have_no_watermark_and_no_such_sysctl() -> None:
    m = nommu.Machine(ideal=True)
    assert m.zone.wmark_min == 0 and m.kmem is None and m.oom is None
    with pytest.raises(ValueError, match=r"unknown sysctl 'vm\.min_free_kbytes'"):
        m.sysctl("vm.min_free_kbytes")
    with pytest.raises(nommu.SyscallError):
        m.cat("/proc/zoneinfo")


# -- kernel stacks and slab --------------------------------------------------------------
def test_a_vfork_costs_an_order_2_stack_and_slab_on_riscv64_6_1() -> None:
    m = riscv32m()
    init = m.spawn(name="init")
    assert meminfo(m, "KernelStack") == 16
    free = m.zone.free_count
    child = init.vfork()
    assert meminfo(m, "KernelStack") == 32
    # stack (4 pages), task_struct (4672 bytes: an order-1 block under SLOB), one pool page
    assert free - m.zone.free_count == 7
    child.exit(0)
    init.wait()
    assert meminfo(m, "KernelStack") == 16
    assert m.zone.free_count < free  # stack and task_struct wait for a grace period
    m.validate()
    init.umask(0o22)  # the next system call: a grace period has passed
    assert m.zone.free_count == free
    m.validate()


def test_a_clone_costs_order_1_on_arm_and_objects_follow_clone_flags() -> None:
    m = nommu.Machine(ram="8M")  # ARM, 6.12: SLUB
    init = m.spawn(name="init")
    assert m.kmem is not None and m.kmem.stack_order == 1
    caches = m.kmem.slab.caches
    before = {n: c.inuse for n, c in caches.items()}
    t = init.clone(nommu.CLONE_VM | 0x800 | nommu.CLONE_FILES | 0x200 | nommu.CLONE_THREAD)
    grew = {n for n, c in caches.items() if c.inuse != before[n]}
    assert grew == {"task_struct", "cred", "pid"}  # files, fs, sighand, signal, mm shared
    t.exit(0)
    m.validate()


def test_mappings_take_vma_and_region_objects_and_give_them_back() -> None:
    m = nommu.Machine(ram="8M")
    p = m.spawn()
    assert m.kmem is not None
    caches = m.kmem.slab.caches
    addrs = [p.mmap(0, 4096, RW, ANON) for _ in range(3)]
    assert caches["vm_area_struct"].inuse == 3 and caches["vm_region"].inuse == 3
    p.munmap(addrs[1], 4096)
    assert caches["vm_area_struct"].inuse == 2
    big = p.mmap(0, 4 * 4096, RW, ANON)
    p.munmap(big + 4096, 4096)  # a hole: split_vma makes a VMA and a region
    assert caches["vm_area_struct"].inuse == 4 and caches["vm_region"].inuse == 4
    p.exit(0)
    assert caches["vm_area_struct"].inuse == 0 and caches["vm_region"].inuse == 0
    m.validate()


def test_slab_caches_take_and_give_whole_slabs() -> None:
    taken: list[int] = []
    freed: list[tuple[int, int]] = []

    def source(order: int) -> int:
        taken.append(order)
        return 100 + len(taken)

    slab = SlabAllocator({"a": 1000, "big": 5000}, 4096, slob=False)
    assert slab_order(1000, 4096) == (0, 4) and slab_order(5000, 4096) == (1, 1)
    assert slab.caches["a"].min_partial == 5  # ilog2(1000) / 2 = 4, at least MIN_PARTIAL
    for _ in range(28):
        slab.alloc("a", source)
    assert taken == [0] * 7 and slab.slab_pages() == (0, 7)
    for _ in range(28):
        slab.free("a", lambda pfn, order: freed.append((pfn, order)))
    assert freed == [(107, 0), (106, 0)]  # five empty slabs are kept (min_partial)
    slab.validate()
    slab.caches["a"].inuse = 21  # corrupt: more objects than the slabs hold
    with pytest.raises(nommu.KernelBug, match="21 objects in 5 slabs"):
        slab.validate()


def test_slob_pools_small_objects() -> None:
    slab = SlabAllocator({"a": 3000, "b": 2000}, 4096, slob=True)
    pages = iter(range(10))
    slab.alloc("a", lambda order: next(pages))
    slab.alloc("b", lambda order: next(pages))
    assert slab.slab_pages() == (0, 2) and slab.slob_bytes == 5000
    slab.slob_bytes += 1  # corrupt
    with pytest.raises(nommu.KernelBug, match="SLOB bytes 5001"):
        slab.validate()


def test_validate_catches_a_kernel_stack_freed_behind_its_back() -> None:
    m = nommu.Machine(ram="8M")
    p = m.spawn()
    assert m.kmem is not None
    stack = m.kmem.tasks[p.pid].stack
    assert stack is not None
    m.zone.free_pages(stack, m.kmem.stack_order)
    with pytest.raises(nommu.KernelBug, match="stack of 1 overlaps"):
        m.validate()


def test_the_footprint_shows_the_kernels_share() -> None:
    from nommu.analysis.footprint import footprints
    from nommu.analysis.snapshot import capture

    m = nommu.Machine(ram="8M")
    p = m.spawn(name="app")
    p.mmap(0, 4096, RW, ANON)
    snap = capture(m)
    (fp,) = footprints(snap)
    assert m.kmem is not None
    sizes = m.kmem.sizes
    task = sum(
        sizes[n]
        for n in (
            "task_struct",
            "cred",
            "files_struct",
            "fs_struct",
            "sighand_struct",
            "signal_struct",
            "mm_struct",
            "pid",
        )
    )
    assert fp.kernel == 8192 + task + sizes["vm_area_struct"] + sizes["vm_region"]
    assert snap.kernel_stack_pages == 2 and snap.slab_pages > 0


# -- the OOM killer ---------------------------------------------------------------------
def fill(p: nommu.Process, size: int = 32 << 10) -> int:
    n = 0
    while True:
        p.mmap(0, size, RW, ANON)
        n += 1


def test_the_caller_as_victim_is_killed_not_given_enomem() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    m.spawn(name="init")
    hog = m.spawn(name="hog")
    with pytest.raises(nommu.ProcessKilled) as e:
        fill(hog)
    assert (e.value.pid, e.value.comm) == (hog.pid, "hog")
    assert hog.state in ("Z", "X") and hog.exit_signal == 9
    log = m.dmesg()
    assert log[-6] == "hog invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=3, oom_score_adj=0"
    assert log[-5] == "COMPACTION is disabled!!!"
    assert (
        log[-2]
        == f"oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),task=hog,pid={hog.pid},uid=0"
    )
    assert log[-1].startswith(f"Out of memory: Killed process {hog.pid} (hog) total-vm:")
    assert log[-1].endswith(
        "anon-rss:0kB, file-rss:0kB, shmem-rss:0kB, UID:0 pgtables:0kB oom_score_adj:0"
    )
    m.validate()


def test_orders_above_3_get_enomem() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    p = m.spawn(name="p")
    with pytest.raises(nommu.SyscallError) as e:
        while True:
            p.mmap(0, 64 << 10, RW, ANON)
    assert e.value.errno == nommu.Errno.ENOMEM
    assert not any("oom-killer" in line for line in m.dmesg())


def test_the_newest_killable_process_dies_and_oom_score_adj_changes_that() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    init = m.spawn(name="init")
    a = m.spawn(name="a")
    b = m.spawn(name="b")
    assert m.cat(f"/proc/{b.pid}/oom_score") == "666\n" and m.cat("/proc/1/oom_score") == "0\n"
    fd = init.open(f"/proc/{b.pid}/oom_score_adj", nommu.O_WRONLY)
    init.write(fd, b"-1000")
    with pytest.raises(nommu.SyscallError):
        init.write(fd, b"1001")
    assert m.cat(f"/proc/{b.pid}/oom_score") == "0\n"
    # a allocates; b is protected, so a (the newest killable) dies
    with pytest.raises(nommu.ProcessKilled):
        fill(a)
    assert b.state == "R"
    # a is reaped (no parent); b says -1000 and init is never chosen: nothing is left
    assert m.oom is not None and m.oom.select_bad_process() == (None, False)


def test_another_victim_under_nommu_region_sem_is_the_livelock_hazard() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    m.spawn(name="init")
    sh = m.spawn(name="sh")
    m.spawn(name="late")  # newer than sh: the victim of sh's mmap
    with pytest.raises(nommu.MemoryLivelock) as e:
        fill(sh)
    assert "nommu_region_sem" in e.value.reason
    assert e.value.record.victim_comm == "late" and e.value.record.outcome == "livelock"
    assert m.dmesg()[-1].startswith("Out of memory: Killed process 3 (late)")
    assert sh.state == "R"
    m.validate()


def test_a_zombie_victim_blocks_further_kills_until_reaped() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    init = m.spawn(name="init")
    parent = m.spawn(name="server")
    child = parent.clone(0x11)  # no CLONE_VM: its own mm (SIGCHLD)
    assert m.oom is not None
    m.oom._kill(child)  # an earlier victim, now a zombie
    assert child.state == "Z"
    with pytest.raises(nommu.MemoryLivelock, match="has not been reaped yet"):
        m.oom.out_of_memory(init, 0, (0xCC0, "GFP_KERNEL"), region_sem=False)
    parent.wait()
    assert m.oom.select_bad_process() == (parent, False)


def test_nothing_killable_panics() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    init = m.spawn(name="init")
    with pytest.raises(nommu.KernelPanic, match="System is deadlocked on memory"):
        fill(init)
    assert m.dmesg()[-2:] == [
        "Out of memory and no killable processes...",
        "Kernel panic - not syncing: System is deadlocked on memory",
    ]


def test_a_vfork_child_is_never_chosen_and_its_parents_death_takes_it() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    m.spawn(name="init")
    server = m.spawn(name="server")
    child = server.vfork()  # in server's mm: in_vfork, never a victim
    assert m.oom is not None
    assert m.oom.select_bad_process() == (server, False)
    m.oom._kill(server)
    assert child.state in ("Z", "X") and server.state in ("Z", "X")
    m.validate()


# -- reclaim ----------------------------------------------------------------------------
def test_disk_reads_fill_a_page_cache_that_reclaim_drops_before_the_oom_killer() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    m.mount("ext2", "/mnt", files={"data": bytes(range(256)) * 64 * 16})  # 256 KiB
    m.spawn(name="init")
    p = m.spawn(name="p")
    cached0 = meminfo(m, "Cached")
    fd = p.open("/mnt/data", nommu.O_RDONLY)
    assert p.read(fd, 1 << 20) == bytes(range(256)) * 64 * 16
    assert meminfo(m, "Cached") - cached0 == 256 and meminfo(m, "Inactive(file)") == 256
    assert m.disk_cache is not None
    pfn = m.disk_cache.pfns_of(p.files.fds[fd].inode)[1]
    assert p.peek(pfn << 12, 4) == bytes(range(4))  # the page in RAM holds the file's bytes
    m.validate()
    with pytest.raises(nommu.ProcessKilled):
        fill(p)
    assert m.disk_cache.pages == 0 and m.disk_cache.reclaimed == 64


def test_ramfs_pages_are_never_reclaimed() -> None:
    m = nommu.Machine(ram="2M", kernel_reserved="512K")
    m.spawn(name="init")
    p = m.spawn(name="p")
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_WRONLY)
    p.write(fd, bytes(64 << 10))
    with pytest.raises(nommu.ProcessKilled):
        fill(p)
    assert meminfo(m, "Cached") == 64


# -- scenarios --------------------------------------------------------------------------
def test_the_oom_board_shows_oom_kills_not_enomem() -> None:
    from importlib.resources import files

    text = (files("nommu") / "boards" / "oom.toml").read_text()
    r = run_scenario(loads_scenario(text, "oom.toml"))
    kinds = {c.kind for c in r.failure_counts}
    assert "oom-kill" in kinds and "syscall" not in kinds
    f = next(f for f in r.failures if f.kind == "oom-kill")
    assert f.alloc is not None and f.alloc.order <= 3 and f.snapshot is not None
    assert any("invoked oom-killer" in line for line in f.kernel_log)
    assert not r.ok  # an OOM kill is held against the run unless allowed


def test_the_default_board_reports_the_kernels_share() -> None:
    from importlib.resources import files

    from nommu.report import report_data

    text = (files("nommu") / "boards" / "default.toml").read_text()
    text = text.replace("ticks = 8000", "ticks = 50")
    r = run_scenario(loads_scenario(text, "default.toml"))
    d = report_data(r)
    assert d["summary"]["kernel_bytes"] > 0 and d["summary"]["kernel_stack_bytes"] > 0
    assert all(row["kernel"] > 0 for row in d["footprint"])
