"""The board and its kernel: the one object users construct.

A :class:`Machine` owns physical memory, the page allocator, the no-MMU
mapping engine, the mount table, the process table and the kernel log.
Nothing is global: two machines never share state, and the same calls on the
same machine always give the same results.

Usage::

    >>> import nommu
    >>> m = nommu.Machine(ram="8M")
    >>> p = m.spawn(name="init")
    >>> a = p.mmap(0, 8192, nommu.PROT_READ | nommu.PROT_WRITE,
    ...            nommu.MAP_PRIVATE | nommu.MAP_ANONYMOUS)
    >>> hex(a)          # above init's kernel stack and slab pages
    '0x8010c000'
    >>> p.munmap(a, 8192)
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from nommu.consts import O_RDONLY, O_RDWR, PAGE_SIZE, S_IFCHR, parse_size
from nommu.errors import Errno, KernelBug, SyscallError
from nommu.fs.chardev import MemOperations, NullOperations, ZeroOperations
from nommu.fs.namespace import Namespace
from nommu.fs.procfs import ProcSuperBlock
from nommu.fs.ramfs import RamfsSuperBlock
from nommu.fs.registry import add_boot_devices, register_filesystems
from nommu.fs.vfs import (
    FMODE_READ,
    FMODE_WRITE,
    FileOperations,
    Inode,
    Mount,
    SuperBlock,
    open_file,
)
from nommu.mm.engine import make_engine
from nommu.mm.filemap import GFP_HIGHUSER_MOVABLE, DiskPageCache
from nommu.mm.kmem import KernelMemory
from nommu.mm.memory import PhysicalMemory
from nommu.mm.nommu import Nommu, _KernelTask
from nommu.mm.oom_kill import OOM_SCORE_ADJ_MAX, OOM_SCORE_ADJ_MIN, OomKiller
from nommu.mm.page_alloc import BuddyAllocator
from nommu.mm.watermark import (
    Watermarks,
    calculate_min_free_kbytes,
    render_zoneinfo,
    setup_per_zone_wmarks,
)
from nommu.proc.maps import render_regions, render_vmas
from nommu.proc.meminfo import MeminfoFigures, render_buddyinfo, render_meminfo
from nommu.proc.sysctl import INT_MAX, SysctlIntOperations
from nommu.profiles import (
    BOOT_FREE_TO_TAIL,
    DEFAULT_ARCH,
    DEFAULT_KERNEL,
    DESIGNS,
    ROMFS_DIRECT,
    SHMAT_ENODEV,
    SLUB_ONLY,
    ArchProfile,
    KernelProfile,
    arch_profile,
    kernel_profile,
)

if TYPE_CHECKING:
    from nommu.process import Process

T = TypeVar("T")

#: Filesystem constructors registered by type name (``Machine.mount``).
FilesystemFactory = Callable[..., tuple[SuperBlock, Inode, Any]]
FILESYSTEMS: dict[str, FilesystemFactory] = {}
register_filesystems(FILESYSTEMS)  # romfs, ext2, nfs, cramfs

SYSCTLS = ("vm.nr_trim_pages", "vm.min_free_kbytes")
#: sysctls a machine with ``ideal=True`` does not have (no watermarks)
REALISTIC_SYSCTLS = ("vm.min_free_kbytes",)


def _int_arg(name: str, value: object, *, lo: int | None = None, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if lo is not None and value < lo:
        raise ValueError(f"{name}: must be at least {lo}, got {value}")
    if hi is not None and value > hi:
        raise ValueError(f"{name}: must be at most {hi}, got {value}")
    return value


class Machine:
    """A no-MMU board running Linux (mainline v6.3+ mm/nommu.c semantics).

    Args:
        ram: RAM size (bytes or ``"8M"``); a multiple of the page size.
        ram_base: physical address of the first RAM byte.
        kernel_reserved: RAM taken by the kernel before user space (never free).
        flash: size of memory-mapped NOR flash for XIP (0 for none).
        flash_base: physical address of the flash.
        page_size: a power of two (default 4096).
        max_order: MAX_PAGE_ORDER (largest block ``2**max_order`` pages).
        nr_trim_pages: initial ``vm.nr_trim_pages``.
        max_map_count: the map count limit (checked on munmap splits only).
        allow_uninitialized: CONFIG_MMAP_ALLOW_UNINITIALIZED.
        framebuffer: size of the frame buffer behind /dev/fb0 (0 for none).
        framebuffer_base: its physical address.
        mremap: ``"mainline"`` (mm/nommu.c ``do_mremap()``) or ``"mm"`` (the mm-tree rework).
        word_size: ``sizeof(void *)``: 4 (32-bit) or 8 (64-bit); default: the
            arch's.
        kernel: the kernel version profile (``"6.1"``; default the newest the
            model knows, :data:`nommu.profiles.KERNEL_VERSIONS`); every
            behaviour that differs between versions follows it
            (docs/kernels.md).
        arch: ``"arm"`` (32-bit, default) or ``"riscv64"``
            (:data:`nommu.profiles.ARCHES`).
        design: None (the profile's own mm design) or a what-if design of the
            newest kernel: ``"pagecache"``, sharing only through a contiguous
            page cache (docs/designs.md).
        ideal: leave out the kernel's own memory and its reaction to pressure
            (the idealised model of the worked cases): no kernel stacks or
            slab, no page cache of disk files, no watermarks, no reclaim and
            no OOM killer (a failed allocation of any order is ENOMEM). The
            default, False, is the realistic kernel (docs/kernel-memory.md); with
            ``kernel="2.6.24"`` the VMAs, vm_list_structs and slab descriptors,
            never the kmalloc blocks that are the mappings.

    Keyword options (``**options``, kept in :attr:`options`):
        compressed_flat: load gzip-compressed bFLT (``CONFIG_BINFMT_ZFLAT``);
            default False (such files fail with ENOEXEC).
        elf_as_fdpic: treat every ELF program as FDPIC (per-segment mappings,
            shareable text) to see what an FDPIC build would save; default False.
        fdpic_libraries: emulate the FDPIC dynamic linker by mapping each
            DT_NEEDED library found in /lib or /usr/lib at exec; default True.
        sysv_shm: ``"code"`` (shmat fails with ENODEV, as the kernel code
            does since v4.0, hazard H3) or ``"documented"`` (attaches share
            the segment's pages at one address, as before v4.0); default: the
            kernel profile's.
    """

    def __init__(
        self,
        ram: int | str = "8M",
        ram_base: int = 0x80000000,
        kernel_reserved: int | str = "1M",
        flash: int | str = "0",
        flash_base: int = 0x20000000,
        page_size: int = PAGE_SIZE,
        max_order: int = 10,
        nr_trim_pages: int = 1,
        max_map_count: int = 65530,
        allow_uninitialized: bool = False,
        framebuffer: int | str = "0",
        framebuffer_base: int = 0x30000000,
        mremap: str = "mainline",
        word_size: int | None = None,
        kernel: str = DEFAULT_KERNEL,
        arch: str = DEFAULT_ARCH,
        design: str | None = None,
        ideal: bool = False,
        **options: Any,
    ) -> None:
        self.kernel: KernelProfile = kernel_profile(kernel)
        self.arch: ArchProfile = arch_profile(arch)
        if design not in DESIGNS:
            raise ValueError(
                f"design: must be one of {', '.join(map(repr, DESIGNS))}, got {design!r}"
            )
        if design is not None and self.kernel.version != DEFAULT_KERNEL:
            raise ValueError(
                f"design: the what-if design {design!r} is a variant of the newest kernel "
                f"({DEFAULT_KERNEL}), not of {self.kernel.version}"
            )
        self.design = design
        #: the mm design this machine runs: the profile's, or the what-if one
        self.mm_design: str = design if design is not None else self.kernel.mm_design
        if self.mm_design == "shared-vmas":
            _refuse_for_shared_vmas(
                self.kernel.version,
                arch,
                nr_trim_pages=nr_trim_pages,
                allow_uninitialized=allow_uninitialized,
                mremap=mremap,
            )
        if not isinstance(ideal, bool):
            raise TypeError(f"ideal: expected a bool, got {type(ideal).__name__}")
        self.ideal = ideal
        if word_size is None:
            word_size = self.arch.word_size
        ram_b = parse_size(ram, "ram")
        reserved = parse_size(kernel_reserved, "kernel_reserved")
        flash_b = parse_size(flash, "flash")
        fb_b = parse_size(framebuffer, "framebuffer")
        _int_arg("page_size", page_size, lo=1024)
        if page_size & (page_size - 1):
            raise ValueError(f"page_size: must be a power of two, got {page_size}")
        _int_arg("max_order", max_order, lo=0, hi=20)
        _int_arg("nr_trim_pages", nr_trim_pages, lo=0)
        _int_arg("max_map_count", max_map_count, lo=1)
        _int_arg("ram_base", ram_base, lo=0)
        _int_arg("flash_base", flash_base, lo=0)
        _int_arg("framebuffer_base", framebuffer_base, lo=0)
        if word_size not in (4, 8):
            raise ValueError(f"word_size: must be 4 or 8, got {word_size!r}")
        if mremap not in ("mainline", "mm"):
            raise ValueError(f"mremap: must be 'mainline' or 'mm', got {mremap!r}")
        if ram_b == 0 or ram_b % page_size:
            raise ValueError(
                f"ram: must be a positive multiple of page_size ({page_size}), got {ram_b}"
            )
        if ram_base % page_size:
            raise ValueError(f"ram_base: must be page aligned, got {ram_base:#x}")
        if reserved % page_size or reserved >= ram_b:
            raise ValueError(f"kernel_reserved: must be page aligned and below ram, got {reserved}")
        if flash_b % page_size or flash_base % page_size:
            raise ValueError("flash: size and flash_base must be page aligned")
        if fb_b % page_size or framebuffer_base % page_size:
            raise ValueError("framebuffer: size and framebuffer_base must be page aligned")
        limit = 1 << (8 * word_size)
        for name, base, size in (
            ("ram", ram_base, ram_b),
            ("flash", flash_base, flash_b),
            ("framebuffer", framebuffer_base, fb_b),
        ):
            if base + size > limit:
                raise ValueError(f"{name}: ends above the {8 * word_size}-bit address space")
        unknown = sorted(
            set(options) - {"compressed_flat", "elf_as_fdpic", "fdpic_libraries", "sysv_shm"}
        )
        if unknown:
            raise TypeError(f"{unknown[0]}: not a Machine option")
        for flag, default in (
            ("compressed_flat", False),
            ("elf_as_fdpic", False),
            ("fdpic_libraries", True),
        ):
            value = options.setdefault(flag, default)
            if not isinstance(value, bool):
                raise TypeError(f"{flag}: expected a bool, got {type(value).__name__}")
        shm_default = "code" if self.kernel.has(SHMAT_ENODEV) else "documented"
        if options.setdefault("sysv_shm", shm_default) not in ("code", "documented"):
            raise ValueError(
                f"sysv_shm: must be 'code' or 'documented', got {options['sysv_shm']!r}"
            )
        self.options: dict[str, Any] = dict(options)
        self.page_size = page_size
        self.page_shift = page_size.bit_length() - 1
        self.word_size = word_size
        self.ram_base, self.ram_size = ram_base, ram_b
        self.kernel_reserved = reserved
        self.flash_base, self.flash_size = flash_base, flash_b
        self.framebuffer_base, self.framebuffer_size = framebuffer_base, fb_b
        self._dmesg: list[str] = []

        self.memory = PhysicalMemory(page_size)
        self.memory.add_area("ram", ram_base, ram_b, writable=True)
        if flash_b:
            self.memory.add_area("flash", flash_base, flash_b, writable=False)
        if fb_b:
            self.memory.add_area("framebuffer", framebuffer_base, fb_b, writable=True)
        start_pfn = ram_base >> self.page_shift
        self.zone = BuddyAllocator(start_pfn, start_pfn + (ram_b >> self.page_shift), max_order)
        self.zone.online(
            start_pfn + (reserved >> self.page_shift),
            self.zone.end_pfn,
            to_tail=self.kernel.has(BOOT_FREE_TO_TAIL),
        )
        self.nommu: Nommu = make_engine(
            self.mm_design,
            self.memory,
            self.zone,
            page_size=page_size,
            log=self.log,
            nr_trim_pages=nr_trim_pages,
            max_map_count=max_map_count,
            allow_uninitialized=allow_uninitialized,
            mremap_variant=mremap,
            word_bits=8 * word_size,
            ideal=ideal,
            # before 2.6.30 romfs (and mainline cramfs) could not map flash directly
            no_direct_fstypes=(
                frozenset() if self.kernel.has(ROMFS_DIRECT) else frozenset({"romfs", "cramfs"})
            ),
            kernel=self.kernel,
        )
        self.nommu.pagecache_pages = self.cached_pages
        self.log(
            f"Memory: {(self.zone.free_count * page_size) >> 10}K/{ram_b >> 10}K "
            f"available ({reserved >> 10}K kernel code/data, reserved)"
        )
        self.kmem: KernelMemory | None = None
        self.oom: OomKiller | None = None
        self.disk_cache: DiskPageCache | None = None
        self.min_free_kbytes = 0
        self.watermarks = Watermarks(0, 0, 0, 0)
        self._kernel_task = _KernelTask()
        # the kernel's own memory and its reaction to pressure, for the regions design
        # (2.6.29 on); the 2.6.24 and page-cache designs count their own kernel objects
        self.realistic = not ideal and self.mm_design == "regions"
        if self.realistic:
            self.min_free_kbytes = calculate_min_free_kbytes(self.zone.managed, page_size)
            self._setup_watermarks()
            self.oom = OomKiller(self)
            self.kmem = KernelMemory(
                self.zone,
                self.arch.name,
                self.arch.thread_size,
                page_size,
                slob=not self.kernel.has(SLUB_ONLY),
                pages=self._kernel_pages,
            )
            self.disk_cache = DiskPageCache(
                self.zone, self.memory, page_size, self._page_cache_page
            )
            self.nommu.kmem = self.kmem
            self.nommu.slowpath = self._slowpath

        self._anon_minor = itertools.count(13)
        self._pids = itertools.count(1)
        self.procs: dict[int, Process] = {}
        # a CLONE_THREAD was made: a thread group may hold several tasks (exec and exit
        # then look for the others; until then every group is one task)
        self.threaded = False
        # per-machine kernel state of optional subsystems, by name: "extra_ramfs" (internal
        # ramfs instances such as the SysV shm mount, counted in meminfo and validate),
        # "ipc_shm", "mtd", "pipefs", "sockfs", "blockdev_minors"
        self.hooks: dict[str, Any] = {}
        self._ramfs_key = (0, 0)  # (mounts, kernel-internal ramfs) when _ramfs was listed
        self._ramfs: list[RamfsSuperBlock] = []
        self._build_filesystems()

    # -- the kernel's own memory (realistic machines) -------------------------------------
    def _setup_watermarks(self) -> None:
        """``setup_per_zone_wmarks``: the zone's marks from ``vm.min_free_kbytes``."""
        self.watermarks = setup_per_zone_wmarks(
            self.min_free_kbytes, self.zone.managed, self.page_size
        )
        self.zone.wmark_min = self.watermarks.min

    def _slowpath(
        self, task: object, npages: int, order: int, length: int, mmap_line: bool, sem: bool
    ) -> int:
        assert self.oom is not None
        return self.oom.alloc(task, npages, order, length, mmap_line=mmap_line, region_sem=sem)

    def _kernel_pages(self, order: int, gfp: tuple[int, str], task: object) -> int:
        """A block for a kernel stack or a slab (not under ``nommu_region_sem``)."""
        pfn = self.zone.alloc_pages(order)
        if pfn is None:
            assert self.oom is not None
            if task is None:
                task = self._kernel_task
            pfn = self.oom.alloc(
                task,
                1 << order,
                order,
                self.page_size << order,
                mmap_line=False,
                region_sem=False,
                gfp=gfp,
            )
        return pfn

    def _page_cache_page(self) -> int:
        """A page for the page cache of a disk file (``filemap_alloc_folio``)."""
        pfn = self.zone.alloc_pages(0)
        if pfn is None:
            assert self.oom is not None
            pfn = self.oom.alloc(
                self.nommu.current,
                1,
                0,
                self.page_size,
                mmap_line=False,
                region_sem=self.nommu.region_sem_held,
                gfp=GFP_HIGHUSER_MOVABLE,
            )
        return pfn

    def release_task(self, p: Process) -> None:
        """``release_task``: the reaped task leaves the task list with its kernel memory."""
        self.procs.pop(p.pid, None)
        if self.kmem is not None:
            self.kmem.release_task(p.pid)
        if self.oom is not None:
            self.oom.forget(p.pid)

    def task_exit(self, p: Process) -> None:
        """``do_exit``: shared structures and the kernel stack go (before the counts drop)."""
        if self.kmem is not None:
            self.kmem.exit_task(
                p.pid,
                files_last=p.files.users == 1,
                fs_last=p.fs.users == 1,
                sighand_last=p.sighand.users == 1,
            )

    def rcu_quiescent(self) -> None:
        """A system call begins: a grace period has passed, RCU callbacks run."""
        kmem = self.kmem
        if kmem is not None and kmem.rcu:
            kmem.rcu_flush()

    def subsystem(self, name: str, kind: type[T], make: Callable[[], T]) -> T:
        """This machine's state of an optional kernel subsystem, made on first use.

        Pipes, sockets, MTD devices and SysV shm exist only once something
        uses them; their state lives in :attr:`hooks` under *name*.
        """
        state = self.hooks.get(name)
        if not isinstance(state, kind):
            state = make()
            self.hooks[name] = state
        return state

    # -- kernel log ---------------------------------------------------------------------
    def log(self, line: str) -> None:
        self._dmesg.append(line)

    def dmesg(self) -> list[str]:
        """The kernel log, oldest first."""
        return list(self._dmesg)

    @property
    def dmesg_count(self) -> int:
        """Lines logged so far: ``dmesg()[n:]`` is what was logged after this was *n*."""
        return len(self._dmesg)

    # -- filesystems --------------------------------------------------------------------
    def anon_dev(self) -> tuple[int, int]:
        """``get_anon_bdev``: the next 0:N device number."""
        return (0, next(self._anon_minor))

    def _build_filesystems(self) -> None:
        root_sb = RamfsSuperBlock(self.nommu, self.anon_dev(), "rootfs")
        self.rootfs = root_sb
        self.ns = Namespace(Mount(root_sb, root_sb.root, "/"))
        for d in ("dev", "proc", "tmp", "mnt", "bin", "etc", "sbin", "usr", "var", "home"):
            root_sb.mkdir(root_sb.root, d, 0o755)
        root_sb.root.children["tmp"].i_mode |= 0o1777  # type: ignore[index]
        dev_sb = RamfsSuperBlock(self.nommu, self.anon_dev(), "devtmpfs")
        self.devfs = dev_sb
        self.ns.add_mount(Mount(dev_sb, dev_sb.root, "/dev"), "/dev")
        dev_sb.mkdir(dev_sb.root, "shm", 0o1777)
        self.add_chardev("null", NullOperations(), (1, 3), 0o666)
        self.add_chardev("zero", ZeroOperations(), (1, 5), 0o666)
        self.add_chardev("mem", MemOperations(self.nommu), (1, 1), 0o640)
        shm_sb = RamfsSuperBlock(self.nommu, self.anon_dev(), "tmpfs")
        self.shmfs = shm_sb
        self.ns.add_mount(Mount(shm_sb, shm_sb.root, "/dev/shm"), "/dev/shm")
        proc_sb = ProcSuperBlock(self.anon_dev(), lambda: list(self.procs))
        self.procfs = proc_sb
        self.ns.add_mount(Mount(proc_sb, proc_sb.root, "/proc"), "/proc")
        self._register_proc()
        add_boot_devices(self)  # /dev/fb0

    def add_chardev(
        self, name: str, fops: FileOperations, rdev: tuple[int, int], mode: int = 0o600
    ) -> Inode:
        """Create ``/dev/<name>`` as a character device node."""
        return self.devfs.mknod(self.devfs.root, name, S_IFCHR | mode, fops, rdev)

    def mount(self, fstype: str, target: str, **options: Any) -> Any:
        """Mount a filesystem of *fstype* at *target* (created if missing).

        Returns the filesystem object. Options ``ro`` and ``noexec`` apply to
        every type; others are the type's own (see the README).
        """
        if not isinstance(fstype, str):
            raise TypeError(f"fstype: expected str, got {type(fstype).__name__}")
        ro = bool(options.pop("ro", False))
        noexec = bool(options.pop("noexec", False))
        if fstype in ("ramfs", "tmpfs"):
            if options:
                raise ValueError(f"{fstype}: unknown option {sorted(options)[0]!r}")
            self._ensure_dir(target)
            sb: SuperBlock = RamfsSuperBlock(self.nommu, self.anon_dev(), fstype)
            root = sb.root  # type: ignore[attr-defined]
            fs: Any = sb
        else:
            factory = FILESYSTEMS.get(fstype)
            if factory is None:
                raise ValueError(f"fstype: unknown filesystem type {fstype!r}")
            # the target first: a factory may take resources (flash partitions, devices)
            self._ensure_dir(target)
            sb, root, fs = factory(self, **options)
            if self.disk_cache is not None and getattr(sb, "mtd", None) is None:
                if hasattr(sb, "disk_cache"):  # ext2, NFS, romfs on a block device
                    sb.disk_cache = self.disk_cache
        mnt = Mount(sb, root, target, ro=ro, noexec=noexec)
        mnt.fs = fs
        self.ns.add_mount(mnt, target)
        return fs

    def _ensure_dir(self, path: str) -> None:
        from nommu.fs.namespace import join, split_path

        parts = split_path(path)
        if join(parts) in self.ns.mounts:
            raise ValueError(f"target: {join(parts)} is already a mountpoint")
        cur = ""
        for comp in parts:
            parent = self.ns.lookup(cur or "/")
            cur = cur + "/" + comp
            children = parent.inode.children
            if children is None:
                raise ValueError(f"target: {cur} is not a directory")
            if comp not in children and cur not in self.ns.mounts:
                parent.mount.sb.mkdir(parent.inode, comp, 0o755)

    # -- processes ----------------------------------------------------------------------
    def new_pid(self) -> int:
        return next(self._pids)

    def spawn(self, name: str = "init") -> Process:
        """A new process with an empty address space and fds 0-2 on /dev/null."""
        from nommu.process import Process

        if not isinstance(name, str):
            raise TypeError(f"name: expected str, got {type(name).__name__}")
        rec = None
        if self.kmem is not None:  # the task is made by the kernel (no OOM victim caller)
            rec = self.kmem.copy_process(self._kernel_task, 0, new_mm=True)
        p = Process(self, self.new_pid(), name, parent=None)
        if rec is not None and self.kmem is not None:
            self.kmem.attach(p.pid, rec)
        null = self.ns.lookup("/dev/null")
        for _ in range(3):
            p.files.install(
                open_file(null.inode, null.mount, "/dev/null", O_RDWR, FMODE_READ | FMODE_WRITE, p)
            )
        self.procs[p.pid] = p
        return p

    @property
    def processes(self) -> list[Process]:
        """Live processes (not yet reaped), by pid."""
        return [self.procs[pid] for pid in sorted(self.procs)]

    def process(self, pid: int) -> Process:
        p = self.procs.get(pid)
        if p is None:
            raise SyscallError(Errno.ESRCH, f"no process {pid}")
        return p

    # -- /proc --------------------------------------------------------------------------
    def _register_proc(self) -> None:
        proc = self.procfs
        proc.add_file("maps", lambda who: self.render_maps())
        proc.add_file("meminfo", lambda who: render_meminfo(self.meminfo_figures()))
        proc.add_file("buddyinfo", lambda who: render_buddyinfo(self.zone.statistics().nr_free))
        if self.mm_design == "shared-vmas":
            from nommu.proc.shared_vmas import register_proc_2_6_24

            register_proc_2_6_24(self)
            return
        proc.add_file(
            "sys/vm/nr_trim_pages",
            lambda who: f"{self.nommu.nr_trim_pages}\n",
            mode=0o644,
            fops=SysctlIntOperations(
                lambda: self.nommu.nr_trim_pages, self._set_nr_trim_pages, lo=0
            ),  # mm/nommu.c: proc_dointvec_minmax, extra1 = SYSCTL_ZERO
        )
        if self.realistic:
            proc.add_file(
                "sys/vm/min_free_kbytes",
                lambda who: f"{self.min_free_kbytes}\n",
                mode=0o644,
                writer=self._write_min_free_kbytes,
            )
            proc.add_file("zoneinfo", lambda who: self.render_zoneinfo())
            proc.add_pid_file("oom_score", lambda pid, who: f"{self._oom_score(pid)}\n")
            proc.add_pid_file(
                "oom_score_adj",
                lambda pid, who: f"{self.process(pid).oom_score_adj}\n",
                mode=0o644,
                writer=self._write_oom_score_adj,
            )
        proc.add_pid_file("maps", lambda pid, who: self.render_pid_maps(pid))
        proc.add_pid_file("status", lambda pid, who: self.process(pid).render_status(who))
        proc.add_pid_file("statm", lambda pid, who: self.process(pid).render_statm())
        proc.add_pid_file("cmdline", lambda pid, who: self.process(pid).render_cmdline())

    def _set_nr_trim_pages(self, value: int) -> None:
        self.nommu.nr_trim_pages = value

    def _write_min_free_kbytes(self, text: str) -> None:
        """``min_free_kbytes_sysctl_handler``: proc_dointvec_minmax (>= 0), then new marks."""
        try:
            value = int(text.strip())
        except ValueError:
            raise SyscallError(Errno.EINVAL, "not a number") from None
        if value < 0:
            raise SyscallError(Errno.EINVAL, "vm.min_free_kbytes must be >= 0")
        self.min_free_kbytes = value
        self._setup_watermarks()

    def _oom_score(self, pid: int) -> int:
        assert self.oom is not None
        return self.oom.oom_score(self.process(pid))

    def _write_oom_score_adj(self, pid: int, text: str) -> None:
        """``oom_score_adj_write``: an integer in -1000..1000, else EINVAL."""
        try:
            value = int(text.strip())
        except ValueError:
            raise SyscallError(Errno.EINVAL, "not a number") from None
        if not OOM_SCORE_ADJ_MIN <= value <= OOM_SCORE_ADJ_MAX:
            raise SyscallError(Errno.EINVAL, "oom_score_adj must be in -1000..1000")
        self.process(pid).oom_score_adj = value

    def render_zoneinfo(self) -> str:
        npages = self.ram_size >> self.page_shift
        return render_zoneinfo(self.zone, self.watermarks, npages, npages, self.cached_pages())

    def render_maps(self) -> str:
        return render_regions(self.nommu.regions, self.page_shift, self.word_size)

    def render_pid_maps(self, pid: int) -> str:
        return render_vmas(self.process(pid).mm, self.page_shift, self.word_size)

    def meminfo_figures(self) -> MeminfoFigures:
        kmem = self.kmem
        rec, unrec = kmem.slab.slab_pages() if kmem is not None else (0, 0)
        return MeminfoFigures(
            total=self.zone.managed,
            free=self.zone.free_count,
            cached=self.cached_pages(),
            mmap_copy=self.nommu.mmap_pages_allocated,
            page_kb=self.page_size >> 10,
            file_lru=self.disk_cache.pages if self.disk_cache is not None else 0,
            slab_reclaimable=rec,
            slab_unreclaimable=unrec,
            kernel_stack_kb=((kmem.stacks * kmem.thread_size) >> 10 if kmem is not None else 0),
            wmark_low=self.watermarks.low,
            totalreserve=self.watermarks.high,
        )

    def cached_pages(self) -> int:
        """Pages in ramfs page caches: meminfo's ``Cached`` (sampled after many events).

        Mounts are never taken away and kernel-internal ramfs instances are
        only added, so the two counts tell when the list must be made again.
        """
        key = (len(self.ns.mounts), len(self.hooks.get("extra_ramfs", ())))
        if key != self._ramfs_key:
            self._ramfs_key = key
            self._ramfs = self._ramfs_instances()
        # the page-cache design's runs of files outside RAM are page cache too
        runs: int = getattr(self.nommu, "run_pages", 0)
        disk = self.disk_cache.pages if self.disk_cache is not None else 0
        return sum(sb.cached_pages for sb in self._ramfs) + runs + disk

    def _ramfs_instances(self) -> list[RamfsSuperBlock]:
        seen: dict[int, RamfsSuperBlock] = {}  # by identity, in mount order
        for mnt in self.ns.mounts.values():
            if isinstance(mnt.sb, RamfsSuperBlock):
                seen.setdefault(id(mnt.sb), mnt.sb)
        for sb in self.hooks.get("extra_ramfs", ()):
            seen.setdefault(id(sb), sb)
        return list(seen.values())

    def cat(self, path: str) -> str:
        """Read a whole file of the machine (``/proc`` included) as text."""
        found = self.ns.lookup(path)
        inode = found.inode
        if inode.is_dir():
            raise SyscallError(Errno.EISDIR, f"{found.path} is a directory")
        f = open_file(inode, found.mount, found.path, O_RDONLY, FMODE_READ)
        try:
            data = f.f_op.read(f, 1 << 62, 0)
        finally:
            f.put()
        return data.decode(errors="replace")

    def sysctl(self, name: str, value: int | None = None) -> int:
        """Read or set a sysctl: ``vm.nr_trim_pages``, ``vm.min_free_kbytes``.

        ``vm.min_free_kbytes`` exists on a realistic machine only; setting it
        recomputes the zone's watermarks as a write to
        ``/proc/sys/vm/min_free_kbytes`` does. 2.6.24 has no ``nr_trim_pages``.
        """
        known = [
            n
            for n in SYSCTLS
            if (self.realistic or n not in REALISTIC_SYSCTLS)
            and not (self.mm_design == "shared-vmas" and n == "vm.nr_trim_pages")
        ]
        if name not in known:
            raise ValueError(f"name: unknown sysctl {name!r} (known: {', '.join(known)})")
        if name == "vm.min_free_kbytes":
            if value is not None:
                self.min_free_kbytes = _int_arg("value", value, lo=0, hi=0x7FFFFFFF)
                self._setup_watermarks()
            return self.min_free_kbytes
        if value is not None:
            self.nommu.nr_trim_pages = _int_arg("value", value, lo=0, hi=INT_MAX)
        return self.nommu.nr_trim_pages

    # -- statistics and invariants ------------------------------------------------------
    def validate(self) -> None:
        """Check every invariant of the model; raises :class:`KernelBug`."""
        self.zone.validate()
        self.nommu.validate()
        self.memory.validate()
        shift = self.page_shift
        # every allocated page has exactly one owner; owners never overlap free blocks
        owned = self.nommu.owned_spans()
        if self.kmem is not None:
            self.kmem.validate()
            owned.extend(self.kmem.spans())
        if self.disk_cache is not None:
            owned.extend(self.disk_cache.spans())
        for sb in self._ramfs_instances():
            for inode in self._inodes_of(sb):
                for index, pfn in inode.page_cache.items():
                    owned.append((pfn, pfn + 1, f"page {index} of inode {inode.ino}"))
        # one sweep over allocations and free blocks in pfn order: nothing may overlap
        total_owned = sum(e - s for s, e, _ in owned)
        spans = owned + [
            (pfn, pfn + (1 << order), f"free block pfn {pfn:#x} order {order}")
            for pfn, order in self.zone.free_blocks()
        ]
        spans.sort()
        end, last = -1, ""
        for s, e, what in spans:
            if s < end:
                raise KernelBug(f"{what} overlaps {last} at pfn {s:#x}")
            if s < self.zone.start_pfn or e > self.zone.end_pfn:
                raise KernelBug(f"{what} outside RAM")
            end, last = e, what
        reserved = self.kernel_reserved >> shift
        total = self.ram_size >> shift
        if self.zone.free_count + total_owned + reserved != total:
            raise KernelBug(
                f"pages not conserved: free {self.zone.free_count} + allocated "
                f"{total_owned} + reserved {reserved} != total {total}"
            )
        users: dict[int, int] = {}
        seen_mm: set[int] = set()
        for p in self.procs.values():
            if p.mm is not None and id(p.mm) not in seen_mm:
                seen_mm.add(id(p.mm))
                p.mm.validate()
                for vma in p.mm.vmas() + p.mm.hidden:
                    assert vma.vm_region is not None
                    users[id(vma.vm_region)] = users.get(id(vma.vm_region), 0) + 1
        for vma in self.nommu.leaked_vmas:
            assert vma.vm_region is not None
            users[id(vma.vm_region)] = users.get(id(vma.vm_region), 0) + 1
        for r in self.nommu.regions:
            extra = r.vm_usage - users.get(id(r), 0)
            if extra != 0:
                raise KernelBug(
                    f"{r!r}: vm_usage {r.vm_usage} but {users.get(id(r), 0)} VMAs use it"
                )

    @staticmethod
    def _inodes_of(sb: RamfsSuperBlock) -> list[Inode]:
        return list(sb.inodes)


def _refuse_for_shared_vmas(
    version: str, arch: str, *, nr_trim_pages: int, allow_uninitialized: bool, mremap: str
) -> None:
    """Options a kernel before 2.6.29 did not have: ValueError naming the option."""
    if arch != "arm":
        raise ValueError(f"arch: {arch!r} had no no-MMU Linux in {version}; the model has arm")
    if nr_trim_pages != 1:
        raise ValueError(f"nr_trim_pages: {version} has no vm.nr_trim_pages (added in 2.6.29)")
    if allow_uninitialized:
        raise ValueError(
            f"allow_uninitialized: {version} has no MAP_UNINITIALIZED (added in 2.6.33)"
        )
    if mremap != "mainline":
        raise ValueError(f"mremap: {version} has only its own mremap")
