"""Kernel and architecture profiles: every version and arch difference in one table.

A :class:`~nommu.machine.Machine` runs one kernel version on one architecture
(``Machine(kernel="6.1", arch="riscv64")``). What differs between versions is
listed once, here, as :class:`Change` records: the version that brought the
new behaviour, the kernel file and function where it is decided, and what a
user sees before and after. Code asks the machine's profile
(``machine.kernel.has(KERNEL_READ_REFUSES_READ)``), never a version number,
so a behaviour is switched in one place and ``docs/kernels.md`` lists the
same table (a test keeps the two in step).

What differs between architectures (word size, THREAD_SIZE, the bFLT data
offset, the ELF machine, which loaders exist, system call numbers) is an
:class:`ArchProfile`.

A kernel with a different mm design (2.6.24's VMAs shared between processes)
is a profile like the others: its :attr:`KernelProfile.mm_design` names the
design and the machine builds the matching mapping engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType


def version_key(version: str) -> tuple[int, ...]:
    """``"2.6.24"`` -> ``(2, 6, 24)``: versions compare as tuples of integers."""
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class Change:
    """One user-visible behaviour that changed between kernel versions.

    Attributes:
        name: a short identifier (also the anchor in docs/kernels.md).
        since: the first version with the new behaviour (``"6.3"``).
        where: the kernel file and function that decide it.
        before: what a user sees in versions before *since*.
        after: what a user sees from *since* on.
        until: the first version that no longer has the new behaviour, if any.
    """

    name: str
    since: str
    where: str
    before: str
    after: str
    until: str | None = None

    def applies_to(self, version: str) -> bool:
        """True when *version* has the new behaviour."""
        key = version_key(version)
        if key < version_key(self.since):
            return False
        return self.until is None or key < version_key(self.until)


# -- the table of differences -------------------------------------------------------
# Keep it sorted by version. Each entry is documented in docs/kernels.md.

SHARED_VMAS = Change(
    "regions",
    since="2.6.29",
    where="mm/nommu.c: do_mmap_pgoff(), add_nommu_region(); include/linux/mm_types.h: "
    "struct vm_region",
    before="VMAs are shared between processes: one global tree of shareable VMAs, each mm "
    "lists the VMAs it uses (struct vm_list_struct); private and anonymous memory comes "
    "from kmalloc() and is never trimmed",
    after="every mm has its own VMAs; shareable memory is a refcounted vm_region in one "
    "global tree; private and anonymous memory comes from the page allocator and the "
    "excess of the power-of-two block is trimmed (vm.nr_trim_pages)",
)

ROMFS_DIRECT = Change(
    "romfs_direct",
    since="2.6.30",
    where="fs/romfs/mmap-nommu.c: romfs_get_unmapped_area(), romfs_mmap(); mm/filemap.c: "
    "generic_file_mmap()",
    before="romfs uses generic_ro_fops: no get_unmapped_area, and generic_file_mmap() is "
    "-ENOSYS without an MMU, so every mapping of a romfs file is a copy (read-only ones "
    "shared); nothing runs in place from flash",
    after="romfs on an MTD device maps files directly from flash (execute in place)",
)

SHMAT_ENODEV = Change(
    "shmat_enodev",
    since="4.0",
    where="ipc/shm.c: do_shmat() (the attach file from alloc_file_clone() with "
    "shm_file_operations); mm/nommu.c: validate_mmap_request()",
    before="shmat() maps the segment's ramfs pages directly: every attach of a segment "
    "returns the same address",
    after="the attach file has no mmap capabilities: shmat() fails with ENODEV",
)

NOMMU_PR_FMT = Change(
    "nommu_pr_fmt",
    since="4.2",
    where="mm/nommu.c: pr_fmt() (KBUILD_MODNAME) and its pr_warn()/pr_err() calls",
    before="mm/nommu.c's messages are bare printk() lines: 'Allocation of length 8192 from "
    "process 1 (P1) failed'",
    after="every pr_warn()/pr_err() line of mm/nommu.c starts with 'nommu: ' (the "
    "module name): 'nommu: Allocation of length 8192 from process 1 (P1) failed'",
)

BOOT_FREE_TO_TAIL = Change(
    "boot_free_to_tail",
    since="5.10",
    where="mm/page_alloc.c: __free_pages_core() (FPI_TO_TAIL)",
    before="boot memory is freed through the ordinary __free_one_page(): the 4 MiB blocks "
    "go to the head of their list in ascending order, so the first allocations come from "
    "the top of RAM",
    after="boot memory is freed to the tail of the free lists, so the first allocations "
    "come from the bottom of RAM",
)

O_DIRECTORY_CREAT_ENOTDIR = Change(
    "o_directory_creat_enotdir",
    since="5.7",
    where="fs/namei.c: do_open() (the O_DIRECTORY check after a create)",
    before="open(path, O_DIRECTORY | O_CREAT) of a missing name creates a regular file and "
    "returns its descriptor",
    after="it still creates the regular file, then fails with ENOTDIR",
)

KERNEL_READ_REFUSES_READ = Change(
    "kernel_read_refuses_read",
    since="5.10",
    where="fs/read_write.c: __kernel_read()",
    before="a private mapping of /dev/zero (a device with only ->read) is filled by "
    "kernel_read() and succeeds as a zeroed copy",
    after="kernel_read() refuses a file without ->read_iter when it has ->read: a private "
    "mapping of /dev/zero fails with EINVAL and logs 'kernel read not supported for file'",
)

EMPTY_ARGV_FILLED = Change(
    "empty_argv_filled",
    since="5.18",
    where="fs/exec.c: do_execveat_common()",
    before="execve() with an empty argv starts the program with argc 0",
    after='an empty argv gets "" as argv[0] (argc 1) and the kernel logs once '
    "'process 'P' launched '/bin/prog' with NULL argv: empty string added'",
)

ALLOC_PAGES_COMBINED = Change(
    "alloc_pages_combined",
    since="5.13",
    where="mm/page_alloc.c: __alloc_pages() (__alloc_pages_nodemask() renamed when the two "
    "were combined)",
    before="an allocation above the largest order warns once naming __alloc_pages_nodemask",
    after="the warning names __alloc_pages",
)

MAPLE_TREE = Change(
    "maple_tree",
    since="6.1",
    where="mm/nommu.c (vma_iterator, vma_mas_store); fs/proc/task_nommu.c: m_start()",
    before="an mm's VMAs are an rbtree and a sorted list",
    after="an mm's VMAs are a maple tree of address ranges: /proc/<pid>/maps walks the "
    "tree's ranges, and a store over an existing range overwrites it",
)

PRIVATE_MAYOVERLAY = Change(
    "private_mayoverlay",
    since="6.3",
    where="mm/nommu.c: determine_vm_flags(); fs/proc/task_nommu.c: nommu_vma_show()",
    before="a read-only private mapping that maps the file directly gets VM_MAYSHARE, and "
    "/proc/<pid>/maps prints 's' for it",
    after="it gets VM_MAYOVERLAY instead and maps prints 'p'",
)

O_DIRECTORY_CREAT_EINVAL = Change(
    "o_directory_creat_einval",
    since="6.4",
    where="fs/open.c: build_open_flags()",
    before="O_DIRECTORY | O_CREAT goes on to the lookup (a missing name is created; see "
    "o_directory_creat_enotdir; an existing directory is EISDIR, a file ENOTDIR)",
    after="O_DIRECTORY | O_CREAT is EINVAL before any lookup; nothing is created",
)

SLUB_ONLY = Change(
    "slub_only",
    since="6.4",
    where="mm/Kconfig (SLOB removed); mm/slub.c (SLUB_TINY)",
    before="no-MMU configurations use SLOB: objects of every type share one pool of pages, "
    "objects of a page or more get pages of their own, all counted as SUnreclaim",
    after="SLUB (SLUB_TINY on no-MMU): one cache per object type, each taking whole slabs; "
    "dentry and inode caches count as SReclaimable",
)

SHOW_MEM_AFTER_MMAP_FAILURE = Change(
    "show_mem_after_mmap_failure",
    since="6.6",
    where="mm/nommu.c: do_mmap_private() (show_mem() replaces show_free_areas()); "
    "mm/show_mem.c: __show_mem()",
    before="after 'Allocation of length N from process P (comm) failed' the kernel prints "
    "the free areas only (the zone counters and the 'Normal: ...' line)",
    after="it prints the whole show_mem() block: 'Mem-Info:' first, the free areas, then "
    "'N pages RAM', '0 pages HighMem/MovableOnly' and 'N pages reserved'",
)

ALLOC_PAGES_NOPROF = Change(
    "alloc_pages_noprof",
    since="6.10",
    where="mm/page_alloc.c: __alloc_pages_noprof() (memory allocation profiling renames "
    "the allocator's entry points)",
    before="an allocation above MAX_PAGE_ORDER warns once 'WARNING: ... at "
    "mm/page_alloc.c:N __alloc_pages+0x...'",
    after="the same warning names __alloc_pages_noprof",
)

EXECVE_OPENS_FIRST = Change(
    "execve_opens_first",
    since="6.8",
    where="fs/exec.c: alloc_bprm() calls do_open_execat() before do_execveat_common() "
    "copies the strings",
    before="execve() copies the file name, environment and arguments first and opens the "
    "file in bprm_execve(): E2BIG (arguments too long) wins over ENOENT, EACCES and "
    "ETXTBSY, and the NULL-argv line is logged even when the file cannot be opened",
    after="the file is opened before anything else: a path error wins over E2BIG and the "
    "NULL-argv line is logged only after a successful open",
)

#: Every change the profiles know, oldest first.
CHANGES: tuple[Change, ...] = (
    SHARED_VMAS,
    ROMFS_DIRECT,
    SHMAT_ENODEV,
    NOMMU_PR_FMT,
    O_DIRECTORY_CREAT_ENOTDIR,
    BOOT_FREE_TO_TAIL,
    KERNEL_READ_REFUSES_READ,
    ALLOC_PAGES_COMBINED,
    EMPTY_ARGV_FILLED,
    MAPLE_TREE,
    PRIVATE_MAYOVERLAY,
    O_DIRECTORY_CREAT_EINVAL,
    SLUB_ONLY,
    SHOW_MEM_AFTER_MMAP_FAILURE,
    EXECVE_OPENS_FIRST,
    ALLOC_PAGES_NOPROF,
)

#: The kernel versions the model knows, oldest first; the last is the default.
KERNEL_VERSIONS: tuple[str, ...] = ("2.6.24", "4.4", "5.10", "6.1", "6.3", "6.4", "6.8", "6.12")
DEFAULT_KERNEL = KERNEL_VERSIONS[-1]
#: What-if mm designs (``Machine(design=...)``); None is the profile's own design.
DESIGNS: tuple[str | None, ...] = (None, "pagecache")


@dataclass(frozen=True)
class KernelProfile:
    """What one kernel version does, as the set of :data:`CHANGES` it has."""

    version: str
    changes: frozenset[str] = field(repr=False)

    def has(self, change: Change) -> bool:
        """True when this version has *change*'s new behaviour."""
        return change.name in self.changes

    @property
    def mm_design(self) -> str:
        """``"regions"`` (per-mm VMAs over shared vm_regions, 2.6.29+) or ``"shared-vmas"``."""
        return "regions" if self.has(SHARED_VMAS) else "shared-vmas"


def kernel_profile(version: str) -> KernelProfile:
    """The profile of *version* (``"6.1"``); ValueError naming the known versions."""
    if version not in KERNEL_VERSIONS:
        raise ValueError(
            f"kernel: unknown version {version!r}; the model knows {', '.join(KERNEL_VERSIONS)}"
        )
    return KernelProfile(version, frozenset(c.name for c in CHANGES if c.applies_to(version)))


@dataclass(frozen=True)
class ArchProfile:
    """What differs between architectures.

    Attributes:
        name: ``"arm"`` (32-bit, the default) or ``"riscv64"``.
        word_size: ``sizeof(void *)``.
        thread_size: THREAD_SIZE, the kernel stack of every task
            (arch/arm/include/asm/thread_info.h: 8 KiB;
            arch/riscv/include/asm/thread_info.h: 16 KiB with 64-bit).
        flat_data_start_offset: bytes the bFLT loader reserves below the data
            segment (fs/binfmt_flat.c: ``DATA_START_OFFSET_WORDS``, one word,
            unless the arch selects BINFMT_FLAT_NO_DATA_START_OFFSET, as
            RISC-V does).
        elf_machine: ``e_machine`` of the arch's ELF files (EM_ARM, EM_RISCV).
        elf_fdpic_since: the first kernel version whose BINFMT_ELF_FDPIC
            builds for this arch without an MMU (fs/Kconfig.binfmt), or None.
        syscalls: the system call numbers the project uses (the oracle's probe
            program is built with them): RISC-V uses the asm-generic table
            (include/uapi/asm-generic/unistd.h), 32-bit ARM its EABI table
            (arch/arm/tools/syscall.tbl).
    """

    name: str
    word_size: int
    thread_size: int
    flat_data_start_offset: int
    elf_machine: int
    elf_fdpic_since: str | None
    syscalls: MappingProxyType[str, int] = field(
        default_factory=lambda: MappingProxyType({}), repr=False
    )

    def syscall(self, name: str) -> int:
        """The number of system call *name* on this arch; ValueError when it has none."""
        try:
            return self.syscalls[name]
        except KeyError:
            raise ValueError(f"{self.name} has no system call {name!r}") from None

    def has_elf_fdpic(self, kernel: KernelProfile) -> bool:
        """Whether *kernel* on this arch has the ELF-FDPIC loader."""
        since = self.elf_fdpic_since
        return since is not None and version_key(kernel.version) >= version_key(since)


#: include/uapi/asm-generic/unistd.h (RISC-V, arm64 and other new arches)
ASM_GENERIC_SYSCALLS: MappingProxyType[str, int] = MappingProxyType(
    {
        "dup3": 24,
        "mkdirat": 34,
        "unlinkat": 35,
        "umount2": 39,
        "mount": 40,
        "truncate": 45,
        "ftruncate": 46,
        "fchmodat": 53,
        "openat": 56,
        "close": 57,
        "pipe2": 59,
        "lseek": 62,
        "read": 63,
        "write": 64,
        "exit": 93,
        "exit_group": 94,
        "nanosleep": 101,
        "syslog": 116,
        "kill": 129,
        "reboot": 142,
        "brk": 214,
        "munmap": 215,
        "mremap": 216,
        "clone": 220,
        "execve": 221,
        "mmap": 222,
        "wait4": 260,
    }
)

#: arch/arm/tools/syscall.tbl (EABI); "mmap" is mmap2 (the offset in pages)
ARM_EABI_SYSCALLS: MappingProxyType[str, int] = MappingProxyType(
    {
        "exit": 1,
        "read": 3,
        "write": 4,
        "close": 6,
        "execve": 11,
        "lseek": 19,
        "mount": 21,
        "kill": 37,
        "umount2": 52,
        "brk": 45,
        "reboot": 88,
        "munmap": 91,
        "truncate": 92,
        "ftruncate": 93,
        "syslog": 103,
        "wait4": 114,
        "clone": 120,
        "nanosleep": 162,
        "mremap": 163,
        "vfork": 190,
        "mmap": 192,
        "exit_group": 248,
        "openat": 322,
        "mkdirat": 323,
        "unlinkat": 328,
        "fchmodat": 333,
        "dup3": 358,
        "pipe2": 359,
    }
)

ARCHES: MappingProxyType[str, ArchProfile] = MappingProxyType(
    {
        "arm": ArchProfile(
            "arm",
            word_size=4,
            thread_size=8192,
            flat_data_start_offset=4,
            elf_machine=40,
            elf_fdpic_since="4.19",
            syscalls=ARM_EABI_SYSCALLS,
        ),
        "riscv64": ArchProfile(
            "riscv64",
            word_size=8,
            thread_size=16384,
            flat_data_start_offset=0,
            elf_machine=243,
            elf_fdpic_since="6.6",
            syscalls=ASM_GENERIC_SYSCALLS,
        ),
    }
)
DEFAULT_ARCH = "arm"


def arch_profile(name: str) -> ArchProfile:
    """The profile of arch *name*; ValueError naming the known arches."""
    try:
        return ARCHES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"arch: unknown architecture {name!r}; the model knows {', '.join(ARCHES)}"
        ) from None
