"""Random mmap/munmap/mremap/exit sequences on 2.6.24 and the page-cache design keep every
invariant (Machine.validate after each step) and give back every page at the end."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import nommu
from nommu.errors import SyscallError
from nommu.mm.kmalloc import Kmalloc

RW = nommu.PROT_READ | nommu.PROT_WRITE
ANON = nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS

op = st.tuples(
    st.sampled_from(["mmap", "munmap", "mremap", "file", "exit"]),
    st.integers(0, 3),
    st.integers(1, 70000),
)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(op, max_size=40), kernel=st.sampled_from(["2.6.24", "pagecache"]))
def test_random_sequences_keep_the_invariants(ops: list[tuple[str, int, int]], kernel: str) -> None:
    kw: dict[str, object] = {"ram": "4M", "ram_base": 0, "kernel_reserved": "1M"}
    if kernel == "2.6.24":
        kw["kernel"] = "2.6.24"
    else:
        kw["design"] = "pagecache"
    m = nommu.Machine(**kw)  # type: ignore[arg-type]
    m.mount("ext2", "/mnt", files={"f": bytes(range(256)) * 300})
    free = m.zone.free_count
    procs = [m.spawn(name=f"p{i}") for i in range(4)]
    maps: list[list[tuple[int, int]]] = [[] for _ in procs]
    for name, i, n in ops:
        p = procs[i]
        try:
            if name == "mmap":
                maps[i].append((p.mmap(0, n, RW, ANON), n))
            elif name == "file":
                fd = p.open("/mnt/f", nommu.O_RDONLY)
                length = n % 60000 + 1
                maps[i].append((p.mmap(0, length, nommu.PROT_READ, nommu.MAP_PRIVATE, fd), length))
                p.close(fd)
            elif name == "munmap" and maps[i]:
                a, length = maps[i].pop(n % len(maps[i]))
                p.munmap(a, length)
            elif name == "mremap" and maps[i]:
                k = n % len(maps[i])
                a, length = maps[i][k]
                maps[i][k] = (p.mremap(a, length, n, 0), n)
            elif name == "exit":
                p.exit(0)
                procs[i] = m.spawn(name=f"q{i}")
                maps[i] = []
        except SyscallError:
            pass
        m.validate()
    for p in procs:
        p.exit(0)
    m.validate()
    kmalloc = getattr(m.nommu, "kmalloc", None)
    if isinstance(kmalloc, Kmalloc):
        kmalloc.reap()
    # what is left is held by VMAs an overwrite hid (the same range mapped twice by one
    # process: hazard H2 of the maple tree, in the page-cache design as in the newest kernel)
    leaked = {id(v.vm_region) for v in m.nommu.leaked_vmas}
    assert all(id(r) in leaked for r in m.nommu.regions)
    held = sum(e - s for s, e, _ in m.nommu.owned_spans())
    assert m.zone.free_count + held == free
