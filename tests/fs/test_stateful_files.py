"""Processes driven through random file operations on ramfs and ext2, checked after every step.

The reference keeps each inode's expected contents, each open descriptor,
each mapping, and the bytes of each copy region: a direct ramfs mapping shows
the file as it is now (stores through a MAP_SHARED mapping change the file),
a copy shows the file as it was when the region was made plus every store
into it by any mapping sharing it (a MAP_SHARED request can attach to a
read-only private copy, H6). After every rule: ``Machine.validate()`` passes,
every descriptor reads back the expected contents, every mapping shows its
bytes, and no page-cache page under a MAP_SHARED mapping is free. A direct
mapping whose pages a truncate freed (hazard H5), or that attached to such a
region kept alive by a hidden VMA (H2), is no longer checked, and the
kernel's BUG() that such a dangling region can lead to (H1) is accepted as
long as the model stays consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import nommu
from nommu import KernelOops, SyscallError
from nommu.consts import VM_MAPPED_COPY, VM_SHARED
from nommu.fs.vfs import Inode
from nommu.mm.region import Region

P = 4096
R, W = nommu.PROT_READ, nommu.PROT_WRITE
KINDS = {
    "priv_ro": (R, nommu.MAP_PRIVATE),
    "priv_rw": (R | W, nommu.MAP_PRIVATE),
    "shared_ro": (R, nommu.MAP_SHARED),
    "shared_rw": (R | W, nommu.MAP_SHARED),
}
NAMES = ["/ram/f0", "/ram/f1", "/mnt/f0", "/mnt/f1"]


@dataclass(eq=False)
class Mapping:
    proc: nommu.Process
    addr: int
    length: int
    inode: Inode
    pgoff: int
    kind: str  # "shared" (direct MAP_SHARED), "overlay" (direct read-only private), "copy"
    writable: bool
    region: Region | None = None  # the region it maps (a copy's bytes are the region's)
    dangling: bool = False


@dataclass(eq=False)
class Desc:
    proc: nommu.Process
    fd: int
    inode: Inode


@dataclass
class World:
    contents: dict[Inode, bytearray] = field(default_factory=dict)
    names: dict[str, Inode] = field(default_factory=dict)


class FileMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.m = nommu.Machine(ram="1M", ram_base=0x100000, kernel_reserved="64K", max_order=6)
        self.m.mount("ramfs", "/ram")
        self.m.mount("ext2", "/mnt")
        self.procs = [self.m.spawn(name=f"p{i}") for i in range(3)]
        self.world = World()
        self.descs: list[Desc] = []
        self.maps: list[Mapping] = []
        # (inode, start, end) of direct mappings a shrink left pointing at freed pages (H5);
        # such a region can outlive its mappings when one of its VMAs was hidden (H2)
        self.dangling_ranges: list[tuple[Inode, int, int]] = []
        self.hidden: list[Mapping] = []  # overwritten by a same-range map (H2): never go
        self.copies: dict[Region, bytearray] = {}  # bytes of each copy from its start

    # -- helpers -----------------------------------------------------------------------
    def content(self, inode: Inode) -> bytearray:
        return self.world.contents.setdefault(inode, bytearray())

    def window(self, inode: Inode, pgoff: int, length: int) -> bytes:
        data = bytes(self.content(inode)[pgoff * P : pgoff * P + length])
        return data + bytes(length - len(data))

    def mark_dangling(self, inode: Inode, newsize: int) -> None:
        """H5: a shrink frees pages a read-only private overlay still points at."""
        keep = (newsize + P - 1) // P
        for mp in self.maps + self.hidden:
            if mp.inode is inode and mp.kind == "overlay" and mp.pgoff + mp.length // P > keep:
                mp.dangling = True
                r = mp.region
                assert r is not None  # later requests may attach to any page of it
                self.dangling_ranges.append((inode, r.vm_start, max(r.vm_end, r.vm_top)))

    # -- rules -------------------------------------------------------------------------
    @rule(who=st.integers(0, 2), name=st.sampled_from(NAMES), create=st.booleans())
    def open(self, who: int, name: str, create: bool) -> None:
        p = self.procs[who]
        flags = nommu.O_RDWR | (nommu.O_CREAT if create else 0)
        try:
            fd = p.open(name, flags, 0o644)
        except SyscallError as e:
            assert not create and name not in self.world.names and e.errno == 2
            return
        inode = p.files.fds[fd].inode
        if name not in self.world.names:
            self.world.names[name] = inode
            self.world.contents[inode] = bytearray()
        assert self.world.names[name] is inode
        self.descs.append(Desc(p, fd, inode))

    @rule(
        who=st.integers(0, 2),
        name=st.sampled_from(NAMES),
        size=st.sampled_from([P, 2 * P, 3 * P, 4 * P, 5 * P + 1, 8 * P]),
    )
    def create_sized(self, who: int, name: str, size: int) -> None:
        """open(O_CREAT|O_TRUNC) then ftruncate from 0: the contiguous, mappable layout."""
        p = self.procs[who]
        try:
            fd = p.open(name, nommu.O_CREAT | nommu.O_RDWR | nommu.O_TRUNC, 0o644)
        except SyscallError as e:
            assert e.errno == nommu.Errno.ETXTBSY  # a MAP_SHARED mapping blocks the truncate
            return
        inode = p.files.fds[fd].inode
        if name not in self.world.names:
            self.world.names[name] = inode
            self.world.contents[inode] = bytearray()
        self.mark_dangling(inode, 0)
        self.content(inode).clear()
        self.descs.append(Desc(p, fd, inode))
        self._truncate(self.descs[-1], size)

    @precondition(lambda self: self.descs)
    @rule(
        i=st.integers(0, 99),
        size=st.sampled_from([0, 1, 100, P, P + 7, 2 * P, 3 * P, 5 * P + 3, 8 * P, 70 * P]),
    )
    def ftruncate(self, i: int, size: int) -> None:
        self._truncate(self.descs[i % len(self.descs)], size)

    def _truncate(self, d: Desc, size: int) -> None:
        data = self.content(d.inode)
        old = len(data)
        try:
            d.proc.ftruncate(d.fd, size)
        except SyscallError as e:
            if e.errno == nommu.Errno.ENOMEM:  # ramfs from size 0: the size is set anyway
                assert old == 0
                data.extend(bytes(size))
            else:
                assert e.errno in (nommu.Errno.ETXTBSY, nommu.Errno.EFBIG)
            return
        if size < old:
            self.mark_dangling(d.inode, size)
            del data[size:]
        else:
            data.extend(bytes(size - old))

    @precondition(lambda self: self.descs)
    @rule(
        i=st.integers(0, 99),
        offset=st.integers(0, 6 * P),
        length=st.integers(1, 2 * P),
        byte=st.integers(1, 255),
        seek=st.booleans(),
    )
    def write(self, i: int, offset: int, length: int, byte: int, seek: bool) -> None:
        d = self.descs[i % len(self.descs)]
        payload = bytes([byte]) * length
        try:
            if seek:
                d.proc.lseek(d.fd, offset, nommu.SEEK_SET)
                n = d.proc.write(d.fd, payload)
            else:
                n = d.proc.pwrite(d.fd, payload, offset)
        except SyscallError as e:
            assert e.errno == nommu.Errno.ENOMEM
            return
        data = self.content(d.inode)
        if offset > len(data):
            data.extend(bytes(offset - len(data)))
        data[offset : offset + n] = payload[:n]

    @precondition(lambda self: self.descs)
    @rule(
        i=st.integers(0, 99),
        kind=st.sampled_from(sorted(KINDS)),
        pgoff=st.integers(0, 2),
        npages=st.integers(1, 3),
        traced=st.booleans(),
    )
    def mmap(self, i: int, kind: str, pgoff: int, npages: int, traced: bool) -> None:
        d = self.descs[i % len(self.descs)]
        prot, flags = KINDS[kind]
        p = d.proc
        p.ptraced = traced
        length = npages * P
        try:
            addr = p.mmap(0, length, prot, flags, d.fd, pgoff * P)
        except SyscallError as e:
            assert e.errno in (nommu.Errno.ENODEV, nommu.Errno.EINVAL, nommu.Errno.ENOMEM)
            event(f"mmap {kind}: {e.errno.name}")
            return
        except KernelOops:
            event("mmap: kernel BUG")
            return  # the model rolled back; the invariants below check it
        finally:
            p.ptraced = False
        assert p.mm is not None
        vma = p.mm.find_vma(addr)
        assert vma is not None and vma.vm_start == addr
        if vma.vm_flags & VM_MAPPED_COPY:
            mkind = "copy"
        elif vma.vm_flags & VM_SHARED:
            mkind = "shared"
        else:
            mkind = "overlay"
        event(f"mmap {kind}: {mkind}")
        mp = Mapping(p, addr, length, d.inode, pgoff, mkind, bool(prot & W), vma.vm_region)
        assert mp.region is not None
        if mkind == "copy":
            if mp.region not in self.copies:  # a new copy: the file as it is now
                self.copies[mp.region] = bytearray(self.window(d.inode, pgoff, length))
        else:
            for k in range(npages):
                if d.inode.page_cache.get(pgoff + k, -1) != addr // P + k:
                    # not the file's page now: it attached to a region a shrink left
                    # dangling (H5), kept in the tree by a hidden VMA (H2)
                    assert any(
                        ino is d.inode and lo <= addr + k * P < hi
                        for ino, lo, hi in self.dangling_ranges
                    )
                    mp.dangling = True
        for other in self.maps:
            if (
                other.dangling
                and other.inode is d.inode
                and other.addr <= addr
                and addr + length <= other.addr + other.length
            ):
                mp.dangling = True
        same = [x for x in self.maps if x.proc.mm is p.mm and x.addr == addr and x.length == length]
        self.hidden.extend(same)  # the new VMA overwrites their range in the tree (H2)
        self.maps = [x for x in self.maps if x not in same]
        self.maps.append(mp)

    @precondition(lambda self: self.maps)
    @rule(i=st.integers(0, 99))
    def munmap(self, i: int) -> None:
        mp = self.maps.pop(i % len(self.maps))
        try:
            mp.proc.munmap(mp.addr, mp.length)
        except SyscallError as e:
            # only when another mapping of this mm overwrote part of its range (H2); the
            # VMA stays, and so does its region
            assert e.errno == nommu.Errno.EINVAL
            self.hidden.append(mp)

    def store_targets(self) -> list[Mapping]:
        """Writable mappings whose bytes the reference knows: MAP_SHARED direct, private copies."""
        return [
            mp
            for mp in self.maps
            if not mp.dangling and mp.writable and mp.kind in ("shared", "copy")
        ]

    @precondition(lambda self: self.store_targets())
    @rule(
        i=st.integers(0, 99),
        offset=st.integers(0, 4 * P),
        length=st.integers(1, 64),
        byte=st.integers(0, 255),
    )
    def store(self, i: int, offset: int, length: int, byte: int) -> None:
        """A CPU store through a writable mapping (MAP_SHARED: into the file)."""
        targets = self.store_targets()
        mp = targets[i % len(targets)]
        if mp.kind == "shared":
            size = len(self.content(mp.inode)) - mp.pgoff * P
            limit = min(mp.length, size)  # stay inside EOF
        else:
            limit = mp.length
        if limit <= 0:
            return
        offset %= limit
        length = min(length, limit - offset)
        payload = bytes([byte]) * length
        mp.proc.poke(mp.addr + offset, payload)
        if mp.kind == "shared":
            pos = mp.pgoff * P + offset
            self.content(mp.inode)[pos : pos + length] = payload
        else:  # into the region: every mapping sharing it sees the store (H6 included)
            assert mp.region is not None
            at = mp.addr - mp.region.vm_start + offset
            self.copies[mp.region][at : at + length] = payload

    @precondition(lambda self: self.descs)
    @rule(i=st.integers(0, 99))
    def close(self, i: int) -> None:
        d = self.descs.pop(i % len(self.descs))
        d.proc.close(d.fd)

    @precondition(lambda self: self.world.names)
    @rule(i=st.integers(0, 99))
    def unlink(self, i: int) -> None:
        name = sorted(self.world.names)[i % len(self.world.names)]
        self.procs[0].unlink(name)
        del self.world.names[name]

    @rule(who=st.integers(0, 2))
    def exit(self, who: int) -> None:
        p = self.procs[who]
        p.exit(0)
        self.descs = [d for d in self.descs if d.proc is not p]
        self.maps = [mp for mp in self.maps if mp.proc is not p]
        self.procs[who] = self.m.spawn(name=f"p{who}")

    # -- invariants ----------------------------------------------------------------------
    @invariant()
    def model_is_consistent(self) -> None:
        self.m.validate()

    @invariant()
    def files_read_back(self) -> None:
        for d in self.descs:
            data = self.content(d.inode)
            assert d.proc.fstat(d.fd).st_size == len(data)
            assert d.proc.pread(d.fd, len(data) + 10, 0) == bytes(data)

    @invariant()
    def mappings_show_their_bytes(self) -> None:
        zone = self.m.zone
        for mp in self.maps:
            if mp.dangling:
                continue
            got = mp.proc.peek(mp.addr, mp.length)
            if mp.kind == "copy":
                assert mp.region is not None
                at = mp.addr - mp.region.vm_start
                assert got == bytes(self.copies[mp.region][at : at + mp.length])
                continue
            assert got == self.window(mp.inode, mp.pgoff, mp.length)
            if mp.kind == "shared":  # page-cache pages under MAP_SHARED are never freed
                for k in range(mp.length // P):
                    pfn = (mp.addr >> 12) + k
                    assert mp.inode.page_cache.get(mp.pgoff + k) == pfn
                    assert not zone.is_free(pfn)


TestFileMachine = FileMachine.TestCase
TestFileMachine.settings = settings(settings.default, stateful_step_count=40)
