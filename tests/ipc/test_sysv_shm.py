"""System V shared memory without an MMU (ipc/shm.c, hazard H3)."""

from __future__ import annotations

import errno

import pytest

import nommu
from exec_helpers import P, free_pages, z1024
from nommu import SyscallError

CREAT = nommu.IPC_CREAT | 0o600


def _cached(m: nommu.Machine) -> int:
    for line in m.cat("/proc/meminfo").splitlines():
        if line.startswith("Cached:"):
            return int(line.split()[1])
    raise KeyError("Cached")


def test_shmget_allocates_contiguous_pages_at_once() -> None:
    m = z1024()
    p1 = m.spawn(name="P1")
    shmid = p1.shmget(nommu.IPC_PRIVATE, 8192, CREAT)
    assert shmid == 0
    assert free_pages(m) == 1022 and _cached(m) == 8
    assert m.nommu.mmap_pages_allocated == 0
    ds = p1.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None
    assert (ds.shm_segsz, ds.shm_nattch, ds.shm_cpid, ds.shm_perm_mode) == (8192, 0, p1.pid, 0o600)
    m.validate()
    # the segment outlives its creator
    p1.exit(0)
    assert free_pages(m) == 1022
    m.validate()


def test_C117_shmat_is_ENODEV_by_default() -> None:
    m = z1024()
    assert m.options["sysv_shm"] == "code"
    p1 = m.spawn(name="P1")
    shmid = p1.shmget(nommu.IPC_PRIVATE, 8192, CREAT)
    maps = m.cat("/proc/maps")
    with pytest.raises(SyscallError) as e:
        p1.shmat(shmid, 0, 0)
    assert e.value.errno == errno.ENODEV
    ds = p1.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None and ds.shm_nattch == 0
    assert m.cat("/proc/maps") == maps
    p1.shmctl(shmid, nommu.IPC_RMID)
    assert free_pages(m) == 1024
    m.validate()


def test_C117_documented_behaviour() -> None:
    m = z1024(sysv_shm="documented")
    p1, p2 = m.spawn(name="P1"), m.spawn(name="P2")
    shmid = p1.shmget(nommu.IPC_PRIVATE, 8192, CREAT)
    assert p1.shmat(shmid, 0, 0) == 0x00400000
    assert p2.shmat(shmid, 0, 0) == 0x00400000
    ds = p1.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None and ds.shm_nattch == 2 and ds.shm_lpid == p2.pid
    gmaps = m.cat("/proc/maps").splitlines()
    assert len(gmaps) == 1
    assert gmaps[0].startswith("00400000-00402000 rw-S 00000000 00:")
    assert gmaps[0].endswith(" /SYSV00000000 (deleted)")
    assert free_pages(m) == 1022 and m.nommu.mmap_pages_allocated == 0
    # the segment's bytes are shared
    p1.poke(0x00400000, b"hello")
    assert p2.peek(0x00400000, 5) == b"hello"
    p1.shmdt(0x00400000)
    ds = p1.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None and ds.shm_nattch == 1
    assert p2.peek(0x00400000, 5) == b"hello"
    assert p1.shmat(shmid, 0, 0) == 0x00400000
    ds = p1.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None and ds.shm_nattch == 2
    m.validate()


def test_IPC_RMID_is_deferred_until_the_last_detach() -> None:
    m = z1024(sysv_shm="documented")
    p1, p2 = m.spawn(), m.spawn()
    shmid = p1.shmget(0x1234, 3 * P, CREAT)
    a = p1.shmat(shmid)
    p2.shmat(shmid)
    p1.shmctl(shmid, nommu.IPC_RMID)
    ds = p2.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None and ds.shm_perm_mode & 0o1000 and ds.shm_perm_key == 0  # SHM_DEST
    with pytest.raises(SyscallError) as e:
        p2.shmget(0x1234, 3 * P, 0)  # the key is gone
    assert e.value.errno == errno.ENOENT
    assert free_pages(m) == 1021
    p1.shmdt(a)
    assert free_pages(m) == 1021
    p2.exit(0)  # exit detaches
    assert free_pages(m) == 1024 and _cached(m) == 0
    with pytest.raises(SyscallError) as e:
        p1.shmctl(shmid, nommu.IPC_STAT)
    assert e.value.errno == errno.EINVAL
    m.validate()


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        pytest.param(0, errno.EINVAL, id="below-SHMMIN"),
        pytest.param(0xFF000000, errno.EINVAL, id="above-SHMMAX"),
        pytest.param((4 << 20) + 1, errno.EFBIG, id="above-max-order"),
        pytest.param(-1, errno.EINVAL, id="negative-wraps"),
    ],
)
def test_shmget_size_limits(size: int, expected: int) -> None:
    m = z1024()
    p = m.spawn()
    with pytest.raises(SyscallError) as e:
        p.shmget(nommu.IPC_PRIVATE, size, CREAT)
    assert e.value.errno == expected
    assert free_pages(m) == 1024
    m.validate()


def test_shmget_ENOMEM_when_no_block_is_free() -> None:
    m = z1024()
    p = m.spawn()
    p.mmap(0, P, nommu.PROT_READ, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    with pytest.raises(SyscallError) as e:
        p.shmget(nommu.IPC_PRIVATE, 4 << 20, CREAT)
    assert e.value.errno == errno.ENOMEM
    assert "order-10" in e.value.detail
    assert free_pages(m) == 1023
    m.validate()


def test_shmget_keys_and_permissions() -> None:
    m = z1024()
    owner = m.spawn()
    other = m.spawn()
    other.uid = other.gid = 1000
    with pytest.raises(SyscallError) as e:
        owner.shmget(0x42, P, 0o600)
    assert e.value.errno == errno.ENOENT
    shmid = owner.shmget(0x42, P, CREAT)
    assert owner.shmget(0x42, P, 0) == shmid
    assert owner.shmget(0x42, 100, CREAT) == shmid
    with pytest.raises(SyscallError) as e:
        owner.shmget(0x42, P, CREAT | nommu.IPC_EXCL)
    assert e.value.errno == errno.EEXIST
    with pytest.raises(SyscallError) as e:
        owner.shmget(0x42, 2 * P, 0)
    assert e.value.errno == errno.EINVAL  # checked before the permissions
    with pytest.raises(SyscallError) as e:
        other.shmget(0x42, P, 0o600)
    assert e.value.errno == errno.EACCES
    assert other.shmget(0x42, P, 0) == shmid  # asking for no permission
    for call in (lambda: other.shmat(shmid), lambda: other.shmctl(shmid, nommu.IPC_STAT)):
        with pytest.raises(SyscallError) as e:
            call()
        assert e.value.errno == errno.EACCES
    with pytest.raises(SyscallError) as e:
        other.shmctl(shmid, nommu.IPC_RMID)
    assert e.value.errno == errno.EPERM
    second = owner.shmget(nommu.IPC_PRIVATE, P, CREAT)
    assert second == 1
    owner.shmctl(shmid, nommu.IPC_RMID)
    third = owner.shmget(nommu.IPC_PRIVATE, P, CREAT)
    assert third == 2  # indices are handed out cyclically
    m.validate()


@pytest.mark.parametrize("mode", ["code", "documented"])
@pytest.mark.parametrize(
    ("addr", "flags", "expected"),
    [
        pytest.param(-1, 0, errno.EINVAL, id="negative-id"),
        pytest.param(0x00500001, 0, errno.EINVAL, id="misaligned"),
        pytest.param(0x00500001, nommu.SHM_RND, errno.EINVAL, id="rounded-then-MAP_FIXED"),
        pytest.param(0x00500000, 0, errno.EINVAL, id="aligned-MAP_FIXED"),
        pytest.param(0, 0o40000, errno.EINVAL, id="remap-without-address"),
        pytest.param(0x00000001, nommu.SHM_RND | 0o40000, errno.EINVAL, id="rounds-to-zero"),
    ],
)
def test_shmat_address_rules(mode: str, addr: int, flags: int, expected: int) -> None:
    m = z1024(sysv_shm=mode)
    p = m.spawn()
    shmid = p.shmget(nommu.IPC_PRIVATE, P, CREAT)
    with pytest.raises(SyscallError) as e:
        p.shmat(-1 if addr == -1 else shmid, 0 if addr == -1 else addr, flags)
    assert e.value.errno == expected
    ds = p.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None and ds.shm_nattch == 0
    m.validate()


def test_shmat_unknown_id_and_readonly_attach() -> None:
    m = z1024(sysv_shm="documented")
    p = m.spawn()
    with pytest.raises(SyscallError) as e:
        p.shmat(12345)
    assert e.value.errno == errno.EINVAL
    shmid = p.shmget(nommu.IPC_PRIVATE, P, CREAT)
    a = p.shmat(shmid, 0, nommu.SHM_RDONLY)
    assert m.cat(f"/proc/{p.pid}/maps").startswith(f"{a:08x}-{a + P:08x} r--S ")


def test_shmdt_needs_the_exact_start() -> None:
    m = z1024(sysv_shm="documented")
    p = m.spawn()
    shmid = p.shmget(nommu.IPC_PRIVATE, 2 * P, CREAT)
    a = p.shmat(shmid)
    anon = p.mmap(0, P, nommu.PROT_READ, nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    for bad in (a + 1, a + P, anon, 0x10):
        with pytest.raises(SyscallError) as e:
            p.shmdt(bad)
        assert e.value.errno == errno.EINVAL
    p.shmdt(a)
    with pytest.raises(SyscallError):
        p.shmdt(a)
    ds = p.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None and ds.shm_nattch == 0
    m.validate()


def test_vfork_child_attach_is_the_parents() -> None:
    m = z1024(sysv_shm="documented")
    parent = m.spawn()
    shmid = parent.shmget(nommu.IPC_PRIVATE, P, CREAT)
    child = parent.vfork()
    a = child.shmat(shmid)
    child.exit(0)
    assert parent.mm is not None and parent.mm.find_vma(a) is not None
    ds = parent.shmctl(shmid, nommu.IPC_STAT)
    assert ds is not None and ds.shm_nattch == 1
    parent.shmdt(a)
    parent.shmctl(shmid, nommu.IPC_RMID)
    assert free_pages(m) == 1024
    m.validate()


def test_bad_shmctl_command() -> None:
    m = z1024()
    p = m.spawn()
    shmid = p.shmget(nommu.IPC_PRIVATE, P, CREAT)
    for cmd in (-1, 99):
        with pytest.raises(SyscallError) as e:
            p.shmctl(shmid, cmd)
        assert e.value.errno == errno.EINVAL


def test_machine_rejects_unknown_sysv_mode() -> None:
    with pytest.raises(ValueError, match="sysv_shm"):
        z1024(sysv_shm="posix")
