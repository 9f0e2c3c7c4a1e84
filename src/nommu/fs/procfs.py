"""procfs: read-only text files generated from the machine's state.

Models fs/proc: each file's text is produced when it is opened (as a seq_file
is filled on the first read) by a callback the machine registers, so /proc is
always the live state. Per-process directories ``/proc/<pid>`` appear for the
pids that exist. procfs files have no ``->mmap`` (ENODEV).
"""

from __future__ import annotations

from collections.abc import Callable

from nommu.consts import S_IFDIR, S_IFREG
from nommu.errors import Errno, SyscallError
from nommu.fs.vfs import DirOperations, File, FileOperations, Inode, SuperBlock

#: A generator gets the reading task (or None for the kernel/host) and returns text.
Reader = Callable[[object | None], str]
#: A per-process generator also gets the pid.
PidReader = Callable[[int, object | None], str]
#: A writer for a writable entry gets the text written.
Writer = Callable[[str], None]
#: A per-process writer also gets the pid.
PidWriter = Callable[[int, str], None]


class ProcFileOperations(FileOperations):
    """A generated text file; content fixed at open, like one seq_file pass."""

    def __init__(self, reader: Callable[[object | None], str], writer: Writer | None) -> None:
        self.reader = reader
        self.writer = writer
        self.has_write = writer is not None

    def open(self, file: File) -> None:
        file.private = (file.private, self.reader(file.private).encode())

    def read(self, file: File, count: int, pos: int) -> bytes:
        data = file.private[1] if isinstance(file.private, tuple) else b""
        assert isinstance(data, bytes)
        return data[pos : pos + max(count, 0)]

    def write(self, file: File, data: bytes, pos: int) -> int:
        if self.writer is None:
            raise SyscallError(Errno.EIO)
        self.writer(data.decode(errors="replace"))
        return len(data)


class _PidDirectory(dict[str, Inode]):
    """``/proc``'s children: the fixed entries plus one directory per live pid."""

    def __init__(self, sb: ProcSuperBlock) -> None:
        super().__init__()
        self.sb = sb

    def get(self, key: str, default: Inode | None = None) -> Inode | None:  # type: ignore[override]
        found = super().get(key)
        if found is not None:
            return found
        if key.isdigit() and int(key) in self.sb.pids():
            return self.sb.pid_dir(int(key))
        return default


class ProcSuperBlock(SuperBlock):
    """The proc filesystem of one machine."""

    def __init__(self, dev: tuple[int, int], pids: Callable[[], list[int]]) -> None:
        super().__init__("proc", dev)
        self.read_only = False
        self.pids = pids
        self.dir_ops = DirOperations()
        self.root = Inode(self, S_IFDIR | 0o555, self.dir_ops, ino=1)
        self.root.children = _PidDirectory(self)
        self.pid_entries: dict[str, tuple[PidReader, int, PidWriter | None]] = {}

    def add_file(
        self,
        path: str,
        reader: Reader,
        *,
        mode: int = 0o444,
        writer: Writer | None = None,
        fops: FileOperations | None = None,
    ) -> Inode:
        """Register ``/proc/<path>`` (intermediate directories are created); *fops*
        replaces the generated-text operations (a sysctl's own handler)."""
        parts = path.strip("/").split("/")
        parent = self.root
        for comp in parts[:-1]:
            assert parent.children is not None
            child = parent.children.get(comp)
            if child is None:
                child = Inode(self, S_IFDIR | 0o555, self.dir_ops)
                parent.children[comp] = child
            parent = child
        inode = Inode(self, S_IFREG | mode, fops or ProcFileOperations(reader, writer))
        assert parent.children is not None
        parent.children[parts[-1]] = inode
        return inode

    def add_pid_file(
        self, name: str, reader: PidReader, *, mode: int = 0o444, writer: PidWriter | None = None
    ) -> None:
        """Register ``/proc/<pid>/<name>`` for every process (writable with *writer*)."""
        self.pid_entries[name] = (reader, mode, writer)

    def pid_dir(self, pid: int) -> Inode:
        d = Inode(self, S_IFDIR | 0o555, self.dir_ops)
        assert d.children is not None
        for name, (reader, mode, writer) in self.pid_entries.items():

            def bound(who: object | None, _r: PidReader = reader, _p: int = pid) -> str:
                return _r(_p, who)

            bound_writer: Writer | None = None
            if writer is not None:

                def bound_writer(text: str, _w: PidWriter = writer, _p: int = pid) -> None:
                    _w(_p, text)

            d.children[name] = Inode(self, S_IFREG | mode, ProcFileOperations(bound, bound_writer))
        return d
