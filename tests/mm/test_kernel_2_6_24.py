"""The 2.6.24 profile: VMAs shared between processes, memory from kmalloc (SLAB).

Each test names the function of 2.6.24's mm/nommu.c (or mm/slab.c) whose
behaviour it pins.
"""

from __future__ import annotations

import pytest

import nommu
from nommu.errors import Errno, KernelBug, SyscallError
from nommu.mm.kmalloc import Kmalloc, make_cache
from nommu.mm.shared_vma import SharedVmaNommu

RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS
P = 4096


def machine(**kw: object) -> nommu.Machine:
    opts: dict[str, object] = {"ram": "8M", "ram_base": 0, "kernel_reserved": "4M"}
    opts.update(kw)
    return nommu.Machine(kernel="2.6.24", **opts)  # type: ignore[arg-type]


def engine(m: nommu.Machine) -> SharedVmaNommu:
    assert isinstance(m.nommu, SharedVmaNommu)
    return m.nommu


def test_profile_builds_the_shared_vma_engine() -> None:
    assert machine().mm_design == "shared-vmas"
    assert isinstance(machine().nommu, SharedVmaNommu)
    assert nommu.Machine().mm_design == "regions"


def test_any_address_hint_is_einval() -> None:
    """validate_mmap_request(): ``if (flags & MAP_FIXED || addr)`` -> -EINVAL, KERN_DEBUG line."""
    m = machine()
    p = m.spawn(name="P1")
    with pytest.raises(SyscallError) as e:
        p.mmap(0x500000, P, RW, ANON)
    assert e.value.errno == Errno.EINVAL
    assert m.dmesg()[-1] == "1: Can't do fixed-address/overlay mmap of RAM"
    # the newest kernel ignores the hint
    assert nommu.Machine().spawn().mmap(0x500000, P, RW, ANON) != 0x500000


def test_small_mapping_is_a_slab_object() -> None:
    """do_mmap_private(): kmalloc(len) of the unaligned length; vm_end = start + len.

    The VMA's vm_list_struct (size-32) and the VMA (88 bytes: size-96) come
    first, each growing its cache by one page; the mapping is the last object
    of the first batch the size-128 cache's per-CPU array was refilled with
    (cache_alloc_refill, ____cache_alloc): object 29 of 30, after the
    160-byte on-slab management.
    """
    m = machine()
    p = m.spawn(name="P1")
    a = p.mmap(0, 100, RW, ANON)
    assert a == 0x402000 + 160 + 29 * 128 == 0x402F20
    assert m.cat("/proc/maps") == "00402f20-00402f84 rw-p 00000000 00:00 0 \n"
    assert p.peek(a, 100) == bytes(100)
    # a second one comes from the same array: the object below it
    assert p.mmap(0, 128, RW, ANON) == a - 128


def test_large_mapping_is_a_whole_untrimmed_block() -> None:
    """kmalloc(5 pages) takes size-32768: an order-3 block, never trimmed (no nr_trim_pages)."""
    m = machine(ideal=True)
    p = m.spawn(name="P1")
    a = p.mmap(0, 5 * P, RW, ANON)
    assert a == 0x400000
    # order 3 taken from the 4 MiB block: one free block of each order 3..9
    assert m.cat("/proc/buddyinfo") == (
        "Node 0, zone   Normal      0      0      0      1      1      1      1      1      1"
        "      1      0 \n"
    )
    assert "Slack:\t   12288 bytes" in m.cat("/proc/1/status")
    assert m.cat("/proc/1/maps") == "00400000-00405000 rw-p 00000000 00:00 0 \n"


def test_ideal_leaves_out_vmas_and_vm_list_structs() -> None:
    m = machine(ideal=True)
    p = m.spawn(name="P1")
    p.mmap(0, 100, RW, ANON)
    e = engine(m)
    assert e.kmalloc.slab_pages() == 1  # the size-128 slab of the mapping only
    assert (e.askedalloc, e.realalloc) == (100, 128)
    full = machine()
    full.spawn(name="P1").mmap(0, 100, RW, ANON)
    assert engine(full).kmalloc.slab_pages() == 3  # + size-32 (vml) + size-96 (vma)
    assert (engine(full).askedalloc, engine(full).realalloc) == (100 + 88 + 8, 128 + 96 + 32)


def test_munmap_needs_the_exact_length_or_zero() -> None:
    """do_munmap(): vm_start == addr && (len == 0 || vm_end == addr + len), else -EINVAL."""
    m = machine()
    p = m.spawn(name="P1")
    a = p.mmap(0, 100, RW, ANON)
    with pytest.raises(SyscallError) as e:
        p.munmap(a, P)
    assert e.value.errno == Errno.EINVAL
    assert m.dmesg()[-1] == "munmap of non-mmaped memory by process 1 (P1): 00402f20"
    with pytest.raises(SyscallError):
        p.munmap(a + 4, 96)
    b = p.mmap(0, 3 * P, RW, ANON)
    p.munmap(b, 0)  # any length at the start
    p.munmap(a, 100)
    assert m.cat("/proc/1/maps") == ""
    m.validate()


def test_mremap_checks_in_order() -> None:
    """do_mremap(): EINVAL (no VMA at addr), EFAULT (old_len), ENOMEM (kobjsize)."""
    m = machine()
    p = m.spawn(name="P1")
    a = p.mmap(0, 5 * P, RW, ANON)
    with pytest.raises(SyscallError) as e:
        p.mremap(a + P, P, 2 * P, 0)
    assert e.value.errno == Errno.EINVAL
    with pytest.raises(SyscallError) as e:
        p.mremap(a, 4 * P, 6 * P, 0)
    assert e.value.errno == Errno.EFAULT
    assert p.mremap(a, 5 * P, 8 * P, 0) == a  # the slack of the 32 KiB object
    with pytest.raises(SyscallError) as e:
        p.mremap(a, 8 * P, 8 * P + 1, 0)
    assert e.value.errno == Errno.ENOMEM
    assert p.mremap(a, 8 * P, 100, 0) == a  # shrinking frees nothing
    p.munmap(a, 100)
    m.validate()


def test_above_kmalloc_max_size_fails_without_a_page_allocation_warning() -> None:
    """__find_general_cachep() finds no cache above 4 MiB: kmalloc returns NULL quietly."""
    m = machine(ram="16M")
    p = m.spawn(name="P1")
    n = m.dmesg_count
    with pytest.raises(SyscallError) as e:
        p.mmap(0, (4 << 20) + 1, RW, ANON)
    assert e.value.errno == Errno.ENOMEM
    lines = m.dmesg()[n:]
    assert lines[0] == f"Allocation of length {(4 << 20) + 1} from process 1 failed"
    assert not any("page allocation failure" in line for line in lines)


def test_page_allocation_failure_lines() -> None:
    """kmem_getpages() fails: __alloc_pages' warning (2.6.24 format), then do_mmap_private's."""
    m = machine(ideal=True)
    p = m.spawn(name="P1")
    p.mmap(0, 2 << 20, RW, ANON)
    p.mmap(0, 1 << 20, RW, ANON)
    n = m.dmesg_count
    with pytest.raises(SyscallError):
        p.mmap(0, 2 << 20, RW, ANON)
    lines = m.dmesg()[n:]
    assert lines[0] == "P1: page allocation failure. order:9, mode:0x40d0"
    assert lines[2] == "Allocation of length 2097152 from process 1 failed"


def test_read_only_private_copies_are_shared_exactly() -> None:
    """determine_vm_flags() gives VM_MAYSHARE; do_mmap_pgoff() shares an exact match."""
    m = machine()
    m.mount("ext2", "/mnt", files={"lib": bytes(range(256)) * 64})
    a, b = m.spawn(name="A"), m.spawn(name="B")
    fa = a.open("/mnt/lib", nommu.O_RDONLY)
    fb = b.open("/mnt/lib", nommu.O_RDONLY)
    x = a.mmap(0, 3 * P, nommu.PROT_READ, nommu.MAP_PRIVATE, fa)
    y = b.mmap(0, 3 * P, nommu.PROT_READ, nommu.MAP_PRIVATE, fb)
    assert x == y
    assert len(m.cat("/proc/maps").splitlines()) == 1
    assert m.cat("/proc/maps").split()[1] == "r--s"
    assert "Shared:\t   16480 bytes" in m.cat("/proc/1/status")  # 16 KiB object + VMA
    # an inexact overlap of a shared copy is refused
    with pytest.raises(SyscallError) as e:
        b.mmap(0, 2 * P, nommu.PROT_READ, nommu.MAP_PRIVATE, fb)
    assert e.value.errno == Errno.EINVAL
    assert m.dmesg()[-1] == "Attempt to share mismatched mappings"
    a.munmap(x, 3 * P)
    assert b.peek(y, 4) == bytes(range(4))
    b.munmap(y, 3 * P)
    m.validate()


def test_private_writable_copies_are_not_shared() -> None:
    m = machine()
    m.mount("ext2", "/mnt", files={"f": bytes(2 * P)})
    a, b = m.spawn(name="A"), m.spawn(name="B")
    x = a.mmap(0, 2 * P, RW, nommu.MAP_PRIVATE, a.open("/mnt/f", nommu.O_RDONLY))
    y = b.mmap(0, 2 * P, RW, nommu.MAP_PRIVATE, b.open("/mnt/f", nommu.O_RDONLY))
    assert x != y


def test_no_read_mode_check() -> None:
    """2.6.24 has no 'file not open for reading' EACCES: a copy reads through f_op->read."""
    m = machine()
    p = m.spawn(name="P1")
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_WRONLY, 0o644)
    p.write(fd, b"x" * 100)
    a = p.mmap(0, 100, nommu.PROT_READ, nommu.MAP_PRIVATE, fd)
    assert p.peek(a, 3) == b"xxx"
    with pytest.raises(SyscallError) as e:
        nommu.Machine().spawn().mmap(0, 100, nommu.PROT_READ, nommu.MAP_PRIVATE, fd)
    assert e.value.errno == Errno.EBADF


def test_ramfs_shared_mappings_each_get_a_vma() -> None:
    """MAP_SHARED on a direct backing never shares a VMA: two VMAs at the same address."""
    m = machine()
    p = m.spawn(name="P1")
    fd = p.open("/dev/shm/seg", nommu.O_CREAT | nommu.O_RDWR, 0o600)
    p.ftruncate(fd, 2 * P)
    a = p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd)
    b = p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd)
    assert a == b
    lines = m.cat("/proc/maps").splitlines()
    assert len(lines) == 2 and lines[0] == lines[1]
    assert lines[0].split()[1] == "rw-S"
    # a read-only private mapping is VM_MAYSHARE and finds the first shared VMA of the
    # same range in the tree: it uses that VMA (vm_usage 2), whatever its own flags
    c = p.mmap(0, 2 * P, nommu.PROT_READ, nommu.MAP_PRIVATE, fd)
    assert c == a
    assert [v.vm_usage for v in engine(m).vma_tree] == [2, 1]
    assert len(m.cat("/proc/1/maps").splitlines()) == 3
    m.validate()


def test_ramfs_private_read_only_is_a_copy_before_2_6_29() -> None:
    """ramfs_nommu_get_unmapped_area() returns the hint unless MAP_SHARED; ->mmap: ENOSYS."""
    m = machine()
    p = m.spawn(name="P1")
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR, 0o600)
    p.ftruncate(fd, 2 * P)
    pages = m.zone.free_count
    p.mmap(0, 2 * P, nommu.PROT_READ, nommu.MAP_PRIVATE, fd)
    assert m.zone.free_count < pages  # a kmalloc'ed copy
    assert "r--s" in m.cat("/proc/1/maps")
    m.validate()


def test_no_nr_trim_pages_and_newer_options_refused() -> None:
    m = machine()
    with pytest.raises(SyscallError) as e:
        m.cat("/proc/sys/vm/nr_trim_pages")
    assert e.value.errno == Errno.ENOENT
    with pytest.raises(ValueError, match="unknown sysctl"):
        m.sysctl("vm.nr_trim_pages")
    with pytest.raises(ValueError, match=r"nr_trim_pages: 2\.6\.24 has no vm\.nr_trim_pages"):
        machine(nr_trim_pages=0)
    with pytest.raises(ValueError, match="allow_uninitialized"):
        machine(allow_uninitialized=True)
    with pytest.raises(ValueError, match="arch"):
        machine(arch="riscv64")


def test_exit_frees_everything_once_reaped() -> None:
    m = machine()
    free = m.zone.free_count
    p = m.spawn(name="P1")
    for n in (100, 5000, 3 * P, 100):
        p.mmap(0, n, RW, ANON)
    p.exit(0)
    m.validate()
    assert m.zone.free_count < free  # SLAB keeps the objects in its arrays and free slabs
    engine(m).kmalloc.reap()
    assert m.zone.free_count == free
    m.validate()


def test_validate_catches_corruption() -> None:
    m = machine()
    p = m.spawn(name="P1")
    p.mmap(0, 100, RW, ANON)
    e = engine(m)
    e.realalloc -= 200
    with pytest.raises(KernelBug, match="realalloc"):
        m.validate()
    e.realalloc += 200
    cache = e.kmalloc.find_cache(100)
    assert cache is not None
    cache.free_objects += 1
    with pytest.raises(KernelBug, match="free_objects"):
        m.validate()


def test_slab_geometry() -> None:
    """kmem_cache_create()/cache_estimate(): objects per slab, order and colours (32-bit, ARM)."""
    assert [
        (c.num, c.gfporder, c.colour, c.off_slab)
        for c in (make_cache(s, 4096) for s in (32, 96, 128, 256, 512, 4096, 8192))
    ] == [
        (113, 0, 0, False),
        (40, 0, 2, False),
        (30, 0, 3, False),
        (15, 0, 5, False),
        (8, 0, 0, True),
        (1, 0, 0, True),
        (1, 1, 0, True),
    ]
    k = Kmalloc(nommu.Machine(ram="8M", ram_base=0, kernel_reserved="4M").zone, 4096)
    assert k.max_size == 4 << 20


def test_meminfo_has_2_6_24_rows() -> None:
    """meminfo_read_proc() of 2.6.24: no MmapCopy; the mappings are Slab."""
    m = machine(ideal=True)
    m.spawn(name="P1").mmap(0, 5 * P, RW, ANON)
    text = m.cat("/proc/meminfo")
    assert "MmapCopy" not in text
    assert "Slab:               32 kB\n" in text
    assert text.splitlines()[0] == "MemTotal:         4096 kB"


def test_flat_loader_uses_the_slack() -> None:
    """load_flat_file() of 2.6.24 remaps the data to ksize(): the stack ends the object."""
    from nommu.binfmt.flat_format import build_flat

    m = machine()
    sh = m.spawn(name="sh")
    fd = sh.open("/bin/prog", nommu.O_CREAT | nommu.O_WRONLY, 0o755)
    sh.write(fd, build_flat(0x2040, 0x800, 0x800, 0x1000, 4, flags=1))  # FLAT_FLAG_RAM
    sh.close(fd)
    child = sh.vfork()
    child.execve("/bin/prog", ["prog"])
    mm = child.mm
    assert mm is not None
    (vml,) = mm.vmas()
    assert vml.vm_end - vml.vm_start == 32768  # 0x2040 + 0x800 + 0x1000 + 4 -> size-32768
    assert vml.vm_end - mm.end_brk == 0x1000 + 32  # the stack and the argument words
    m.validate()


def test_romfs_on_flash_is_copied_before_2_6_30() -> None:
    """romfs had no get_unmapped_area in 2.6.24: read-only mappings are shared copies."""
    m = machine(flash="1M", flash_base=0x10000000)
    m.mount("romfs", "/rom", files={"lib.so": bytes(10000)})
    a, b = m.spawn(name="A"), m.spawn(name="B")
    x = a.mmap(
        0, 10000, nommu.PROT_READ | nommu.PROT_EXEC, nommu.MAP_PRIVATE, a.open("/rom/lib.so", 0)
    )
    y = b.mmap(
        0, 10000, nommu.PROT_READ | nommu.PROT_EXEC, nommu.MAP_PRIVATE, b.open("/rom/lib.so", 0)
    )
    assert x == y and 0x400000 <= x < 0x800000  # in RAM, one copy for both
    m.validate()


def test_validate_catches_vmlist_and_tree_corruption() -> None:
    m = machine()
    p = m.spawn(name="P1")
    p.mmap(0, 100, RW, ANON)
    p.mmap(0, 5 * P, RW, ANON)
    mm = p.mm
    assert mm is not None
    vmlist = mm.vmlist  # type: ignore[attr-defined]
    vmlist.reverse()
    with pytest.raises(KernelBug, match="out of address order"):
        m.validate()
    vmlist.reverse()
    mm.map_count += 1
    with pytest.raises(KernelBug, match="map_count"):
        m.validate()
    mm.map_count -= 1
    vma = vmlist[0].vma
    vma.vm_usage += 1
    with pytest.raises(KernelBug, match="vm_usage"):
        m.validate()
    vma.vm_usage -= 1
    vma.vm_top = vma.vm_end - 1
    with pytest.raises(KernelBug, match="out of order"):
        m.validate()


def test_ramfs_get_unmapped_area_errors_of_2_6_24() -> None:
    """ramfs_nommu_get_unmapped_area(): EINVAL past EOF, ENOMEM for missing pages."""
    m = machine()
    p = m.spawn(name="P1")
    fd = p.open("/tmp/f", nommu.O_CREAT | nommu.O_RDWR, 0o644)
    p.pwrite(fd, b"a" * P, 0)
    p.pwrite(fd, b"c" * P, 2 * P)  # page 1 is a hole
    with pytest.raises(SyscallError) as e:
        p.mmap(0, 4 * P, RW, nommu.MAP_SHARED, fd)
    assert e.value.errno == Errno.EINVAL
    with pytest.raises(SyscallError) as e:
        p.mmap(0, 3 * P, RW, nommu.MAP_SHARED, fd)
    assert e.value.errno == Errno.ENOMEM
    # find_get_pages skips the hole: pages 0 and 2 are taken for a two-page mapping
    # and, being physically consecutive here, are mapped as if they were pages 0 and 1
    assert (
        p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd) == m.ns.lookup("/tmp/f").inode.page_cache[0] * P
    )
    assert p.peek(p.mmap(0, 2 * P, RW, nommu.MAP_SHARED, fd) + P, 1) == b"c"


def test_bflt_text_on_romfs_is_one_shared_copy() -> None:
    """load_flat_file() maps the text MAP_PRIVATE read-only: in 2.6.24 a copy (romfs could
    not map flash), VM_MAYSHARE, so a second process running the program shares it."""
    from nommu.binfmt.flat_format import build_flat

    m = machine(flash="1M", flash_base=0x10000000)
    prog = build_flat(0x2040, 0x800, 0x800, 0x1000, 4, flags=0)
    m.mount("romfs", "/rom", files={"prog": nommu.fs.romfs_image.FileSpec(prog, executable=True)})
    sh = m.spawn(name="sh")
    kids = []
    for _ in range(2):
        c = sh.vfork()
        c.execve("/rom/prog", ["prog"])
        kids.append(c)
    texts = [c.mm.vmas()[0] for c in kids]  # type: ignore[union-attr]
    assert texts[0].vm_region is texts[1].vm_region
    assert texts[0].vm_region.vm_usage == 2
    assert 0x400000 <= texts[0].vm_start < 0x800000  # RAM, not flash
    m.validate()
