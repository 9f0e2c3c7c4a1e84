"""Boot a real root filesystem: mount an image at ``/`` and start what its init would.

A scenario's ``[root]`` table mounts a root filesystem, as the kernel's
``prepare_namespace`` / ``mount_root`` (init/do_mounts.c) does, or unpacks
an initramfs as ``populate_rootfs`` (init/initramfs.c) does:

- ``type = "romfs"``: a romfs image of the host on the board's flash (MTD,
  XIP possible) or a block device, mounted read-only over ``/``; the devices,
  ``/proc`` and ``/dev/shm`` stay mounted on the image's own ``/dev`` and
  ``/proc`` directories, which it must have;
- ``type = "cpio"``: a ``newc`` cpio archive (what ``gen_init_cpio`` and
  ``cpio -H newc`` write) unpacked into the root ramfs: directories, files
  (their pages stay in RAM, as the page cache of rootfs) and symbolic links.

The ``boot`` step then starts init as the kernel's ``kernel_init`` does
(``/init`` first for an initramfs, then ``/sbin/init``, ``/etc/init``,
``/bin/init``, ``/bin/sh``; or the step's ``init``) and plays the part of
init itself over a documented subset of its configuration:

- ``/etc/inittab`` in busybox's format ``id:runlevels:action:process``:
  ``sysinit`` and ``wait`` entries run to completion in order, then
  ``once``, ``respawn`` and ``askfirst`` entries are started and stay;
  other actions (``ctrlaltdel``, ``shutdown``, ``restart``) are not run;
- ``/etc/inittab`` in uClinux-dist's ``simpleinit`` format ``id:tty:command``:
  ``/etc/rc`` runs first, then every entry is started and stays, then a
  shell (``/bin/sh``) on the console, as the real image's boot log shows;
- a script (``/etc/rc``, or an inittab process that is not a program) runs
  in a shell (``/bin/sh``, which is started for it and exits at its end):
  each line is one simple command (words split on blanks, quotes removed,
  no pipes, redirections, variables or control flow); a command that names
  a program of the root filesystem (``/bin``, ``/sbin``, ``/usr/bin``,
  ``/usr/sbin``, or a path) is started by ``vfork`` + ``execve``; with a
  trailing ``&`` it stays running, without it it exits at once (status 0),
  having held its memory for that moment; any other command is taken for a
  shell builtin (``hostname``, ``mount``, ``echo``...) and only noted.

Each step of the boot is noted in :attr:`BootRecord.notes` for the report;
a failed exec is a failure like any other (held against the run).
"""

from __future__ import annotations

import posixpath
import shlex
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from nommu.consts import O_RDONLY, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG
from nommu.errors import SyscallError
from nommu.fs.vfs import FMODE_READ, File, Inode, Mount
from nommu.machine import FILESYSTEMS, Machine
from nommu.process import Process, ProcessStateError
from nommu.scenario.schema import Location, ScenarioError

if TYPE_CHECKING:
    from nommu.scenario.engine import Runner

#: Where the kernel looks for init (``kernel_init``, init/main.c), after ``/init``
#: of an initramfs (``ramdisk_execute_command``).
INIT_PATHS = ("/sbin/init", "/etc/init", "/bin/init", "/bin/sh")
#: The shell's search path for commands.
PATH = ("/bin", "/sbin", "/usr/bin", "/usr/sbin")
SHELL = "/bin/sh"
#: busybox init's actions this model runs, and how.
RUN_TO_END = ("sysinit", "wait")
KEEP = ("once", "respawn", "askfirst")
CPIO_MAGICS = (b"070701", b"070702")


@dataclass
class BootRecord:
    """What the boot did, line by line (shown in the report)."""

    notes: list[str] = field(default_factory=list)


# -- the root filesystem ---------------------------------------------------------------------
def mount_root(
    m: Machine, fstype: str, image: bytes, options: dict[str, Any], where: Location
) -> None:
    """Mount *image* at ``/`` (romfs) or unpack it into the root ramfs (cpio)."""
    if fstype == "cpio":
        unpack_cpio(m, image, where)
        return
    if fstype != "romfs":
        raise ScenarioError(where, f"type: expected 'romfs' or 'cpio', got {fstype!r}")
    try:
        sb, root, fs = FILESYSTEMS["romfs"](m, image=image, **options)
    except (ValueError, TypeError, SyscallError) as e:
        raise ScenarioError(where, f"image: {e}") from None
    children = root.children or {}
    for need in ("dev", "proc"):
        child = children.get(need)
        if child is None or (child.i_mode & S_IFMT) != S_IFDIR:
            raise ScenarioError(
                where, f"image: the root filesystem has no /{need} directory to mount {need} on"
            )
    mnt = Mount(sb, root, "/", ro=True)
    mnt.fs = fs
    m.ns.mounts["/"] = mnt  # mount_root, then the early mounts keep their places


def unpack_cpio(m: Machine, data: bytes, where: Location) -> None:
    """``populate_rootfs``: unpack a newc cpio archive into the root ramfs."""
    pos = 0
    root = m.ns.root
    sb: Any = root.sb
    while True:
        head = data[pos : pos + 110]
        if len(head) < 110 or head[:6] not in CPIO_MAGICS:
            raise ScenarioError(where, f"image: not a newc cpio archive at byte {pos}")
        try:
            fields = [int(head[6 + 8 * i : 14 + 8 * i], 16) for i in range(13)]
        except ValueError:
            raise ScenarioError(where, f"image: a bad cpio header at byte {pos}") from None
        mode, filesize, namesize = fields[1], fields[6], fields[11]
        name_end = pos + 110 + namesize
        name = data[pos + 110 : name_end - 1].decode("utf-8", "surrogateescape")
        body = (name_end + 3) & ~3
        pos = (body + filesize + 3) & ~3
        if name == "TRAILER!!!":
            return
        if pos > len(data):
            raise ScenarioError(where, f"image: the cpio entry {name!r} is cut short")
        path = "/" + name.lstrip("./").lstrip("/")
        if path == "/":
            continue
        parent_path, base = posixpath.split(path)
        try:
            parent = m.ns.lookup(parent_path)
        except SyscallError:
            raise ScenarioError(where, f"image: {path}: its directory comes later") from None
        children = parent.inode.children
        if children is None or parent.mount is not root:
            raise ScenarioError(where, f"image: {path}: not in the root ramfs")
        kind = mode & S_IFMT
        existing = children.get(base)
        if kind == S_IFDIR:
            if existing is None:
                sb.mkdir(parent.inode, base, mode & 0o7777)
        elif kind == S_IFREG:
            if existing is not None:
                raise ScenarioError(where, f"image: {path} is in the archive twice")
            inode = sb.create(parent.inode, base, mode & 0o7777)
            if filesize:
                sb.write_inode(inode, data[body : body + filesize], 0)
        elif kind == S_IFLNK:
            link = Inode(sb, S_IFLNK | 0o777, sb.dir_ops)
            target = data[body : body + filesize].decode("utf-8", "surrogateescape")
            link.link_target = target
            link.i_size = filesize
            children[base] = link
        # device nodes, fifos and sockets: not made (the board's /dev is its own)


# -- init --------------------------------------------------------------------------------------
def _read(m: Machine, path: str) -> str | None:
    try:
        return m.cat(path)
    except SyscallError:
        return None


def _is_program(m: Machine, path: str) -> bool:
    """A bFLT or ELF file (what execve can run), as opposed to a script."""
    try:
        found = m.ns.lookup(path)
    except SyscallError:
        return False
    if (found.inode.i_mode & S_IFMT) != S_IFREG:
        return False
    f = File(found.inode, found.mount, found.path, O_RDONLY, FMODE_READ)
    try:
        head = f.f_op.read(f, 4, 0)
    finally:
        f.put()
    return head in (b"bFLT", b"\x7fELF")


def _which(m: Machine, word: str) -> str | None:
    if "/" in word:
        return word if _is_program(m, word) else None
    for d in PATH:
        if _is_program(m, f"{d}/{word}"):
            return f"{d}/{word}"
    return None


class Boot:
    """Plays init for the ``boot`` step (see the module's docstring)."""

    def __init__(self, runner: Runner, where: Location, init: str | None) -> None:
        self.r = runner
        self.m = runner.machine
        self.where = where
        self.init = init
        self.notes = runner.boot_notes

    def note(self, text: str) -> None:
        self.notes.append(text)

    def start(
        self, parent: Process, path: str, argv: list[str], name: str, origin: str
    ) -> Process | None:
        """vfork + execve in *parent*; None (recorded as a failure) if the exec fails."""
        r = self.r
        try:
            child = parent.vfork()
        except (SyscallError, ProcessStateError) as e:
            raise ScenarioError(self.where, f"boot: vfork in {parent.name}: {e}") from None
        r.note_name(child)
        r.started += 1
        r.after_event()
        mark = self.m.dmesg_count
        r.current = ("exec", self.where)
        call = f"execve({path!r}, {argv!r}, [])".replace("'", '"')
        try:
            child.execve(path, argv, ())
        except SyscallError as e:
            r.note_name(child)
            r.failed(self.where, "exec", child, e, call, mark, exec_path=path)
            if child.state not in ("Z", "X"):
                child.exit(127)
            parent.wait()
            r.after_event()
            self.note(f"{origin}: {' '.join(argv)}: exec failed with {e.errno.name}")
            return None
        r.note_name(child)
        r.after_event()
        r.procs[name] = child
        return child

    def _name(self, path: str) -> str:
        base = posixpath.basename(path)
        name, n = base, 1
        while name in self.r.procs and self.r.procs[name].state not in ("Z", "X"):
            n += 1
            name = f"{base}#{n}"
        return name

    def command(self, shell: Process, words: list[str], origin: str) -> None:
        """One simple command of a script, run by *shell*."""
        background = words[-1] == "&"
        if background:
            words = words[:-1]
        elif words[-1].endswith("&"):
            words[-1] = words[-1][:-1]
            background = True
        if not words:
            return
        path = _which(self.m, words[0])
        if path is None:
            self.note(f"{origin}: {' '.join(words)}: a shell builtin or not a program here (noted)")
            return
        name = self._name(path)
        child = self.start(shell, path, words, name, origin)
        if child is None:
            return
        if background:
            self.note(f"{origin}: {' '.join(words)} &: started, stays as {name} (pid {child.pid})")
            return
        child.exit(0)
        shell.wait()
        self.r.after_event()
        self.note(f"{origin}: {' '.join(words)}: ran (pid {child.pid}) and exited")

    def script(self, parent: Process, path: str, origin: str) -> None:
        """Run a script in a shell started for it."""
        text = _read(self.m, path)
        if text is None:
            self.note(f"{origin}: {path}: no such script")
            return
        if not _is_program(self.m, SHELL):
            self.note(f"{origin}: {path}: no {SHELL} to run it")
            return
        shell = self.start(parent, SHELL, ["sh", path], "rc", origin)
        if shell is None:
            return
        self.note(f"{origin}: {SHELL} {path} (pid {shell.pid})")
        for n, line in enumerate(text.splitlines(), 1):
            line = line.split("#", 1)[0].strip() if not line.lstrip().startswith("#") else ""
            if not line:
                continue
            try:
                words = shlex.split(line)
            except ValueError:
                self.note(f"{path}:{n}: {line}: not a simple command (noted)")
                continue
            if words:
                self.command(shell, words, f"{path}:{n}")
        shell.exit(0)
        parent.wait()
        self.r.after_event()

    def entry(self, init: Process, process: str, keep: bool, origin: str) -> None:
        words = process.lstrip("-").split()
        if not words:
            return
        if not _is_program(self.m, words[0]):
            self.script(init, words[0], origin)
            return
        name = self._name(words[0])
        child = self.start(init, words[0], words, name, origin)  # argv[0] as written
        if child is None:
            return
        if keep:
            self.note(f"{origin}: {' '.join(words)}: started, stays as {name} (pid {child.pid})")
        else:
            child.exit(0)
            init.wait()
            self.r.after_event()
            self.note(f"{origin}: {' '.join(words)}: ran (pid {child.pid}) and exited")

    def run(self) -> None:
        r = self.r
        candidates = [self.init] if self.init else ["/init", *INIT_PATHS]
        init = None
        chosen = ""
        for path in candidates:
            if not _is_program(self.m, path):
                continue
            p = self.m.spawn(name="init")
            r.procs["init"] = p
            r.note_name(p)
            r.started += 1
            r.after_event()
            mark = self.m.dmesg_count
            r.current = ("exec", self.where)
            try:
                p.execve(path, [posixpath.basename(path)], ())
            except SyscallError as e:
                r.failed(self.where, "exec", p, e, f'execve("{path}", ...)', mark, exec_path=path)
                self.note(f"kernel: {path}: exec failed with {e.errno.name}")
                return
            r.note_name(p)
            r.after_event()
            init, chosen = p, path
            self.note(f"kernel: started {path} as init (pid {p.pid})")
            break
        if init is None:
            raise ScenarioError(
                self.where,
                "boot: no init found (tried " + ", ".join(candidates) + ")",
            )
        if posixpath.basename(chosen) == "sh":
            return  # the shell is init: nothing more starts
        tab = _read(self.m, "/etc/inittab")
        if tab is None:
            self.note("/etc/inittab: none; /etc/rc runs, then a shell")
            self.script(init, "/etc/rc", "init")
            self.entry(init, SHELL, True, "init")
            return
        rows = []
        for n, line in enumerate(tab.splitlines(), 1):
            line = line.strip()
            if line and not line.startswith("#"):
                rows.append((n, line.split(":", 3)))
        if rows and all(len(f) == 3 for _, f in rows):  # simpleinit: id:tty:command
            self.script(init, "/etc/rc", "init")
            for n, f in rows:
                self.entry(init, f[2], True, f"/etc/inittab:{n}")
            self.entry(init, SHELL, True, "init (console)")
            return
        for phase in (RUN_TO_END, KEEP):
            for n, f in rows:
                if len(f) != 4:
                    self.note(f"/etc/inittab:{n}: not id:runlevels:action:process (noted)")
                    continue
                action = f[2]
                if action in phase:
                    self.entry(init, f[3], phase is KEEP, f"/etc/inittab:{n} {action}")
                elif phase is KEEP and action not in RUN_TO_END + KEEP:
                    self.note(f"/etc/inittab:{n}: action {action} is not run at boot")


__all__ = ["INIT_PATHS", "Boot", "mount_root", "unpack_cpio"]
