"""Preparing the board: the files a trace needs, their filesystems, and creating them."""

from __future__ import annotations

import contextlib
import posixpath
from typing import TYPE_CHECKING, Any

from nommu import consts
from nommu.analysis.failure import size_text
from nommu.binfmt.elf_format import ET_DYN, PF_R, PF_W, PF_X, SegmentSpec, build_elf
from nommu.errors import ConfigError, Errno, SyscallError
from nommu.fs.mtd import MTD_ERASESIZE, mtd_table
from nommu.fs.romfs_image import DirSpec, FileSpec
from nommu.process import Process
from nommu.strace.parse import (
    Event,
)
from nommu.strace.replay.base import (
    ReplayerBase,
)
from nommu.strace.replay.result import (
    ReplayFailure,
    Translation,
)
from nommu.strace.replay.state import (
    _BoardFile,
)

if TYPE_CHECKING:
    pass


class BoardSetup(ReplayerBase):
    """Plans and creates the board's files (libraries, programs, data files)."""

    # ---- board preparation ------------------------------------------------------------
    def program_size(self, path: str) -> tuple[int, str]:
        pol = self.policy
        if pol.program_size is not None:
            return pol.program_size, "the policy's program_size"
        for lib in self.plan.lib_at_res.values():
            if lib.path == path and lib.segs:
                top = max(s.tend for s in lib.segs)
                return top - lib.tstart, f"the span of its mappings at line {lib.line}"
        size = self.plan.sizes.get(path)
        if size:
            return size, "st_size of a stat in the trace (the file size estimates the PT_LOAD span)"
        return pol.default_program_size, "the policy's default_program_size"

    def program_elf(self, size: int) -> bytes:
        size = max(size, 64)
        seg = SegmentSpec(0, size, filesz=min(size, 64), flags=PF_R | PF_W | PF_X)
        return build_elf(
            [seg],
            machine="ARM",
            e_type=ET_DYN,
            gnu_stack=(self.policy.stack_size, False),
            bits=8 * self.m.word_size,
        )

    def plan_files(self) -> None:
        plan = self.plan
        for path, line in plan.lib_paths.items():
            if self.special(path) is not None or path.startswith("/dev/"):
                continue
            bp = self.board_path(path)
            size = max(plan.needs.get(path, 0), plan.sizes.get(path, 0), 1)
            self.files[bp] = _BoardFile(bp, "lib", size, line)
        for path, line in plan.programs.items():
            bp = self.board_path(path)
            if self.special(path) is not None or bp.startswith("/dev/"):
                continue
            size, _ = self.program_size(path)
            elf = self.program_elf(size)
            old = self.files.get(bp)
            if old is not None:  # a program that is also mapped as a library
                old.elf = elf
                old.size = max(old.size, len(elf))
                continue
            self.files[bp] = _BoardFile(bp, "program", len(elf), line, elf)
        for pid, line in plan.orphans_needing_image.items():
            bp = f"/bin/traced-{pid}"
            elf = self.program_elf(self.policy.program_size or self.policy.default_program_size)
            self.files[bp] = _BoardFile(bp, "program", len(elf), line, elf)
        for path, need in plan.needs.items():
            if path in plan.lib_paths or self.special(path) is not None:
                continue
            bp = self.board_path(path)
            if bp.startswith("/dev/") or bp in self.files:
                continue
            size = max(need, plan.sizes.get(path, 0), 1)
            self.files[bp] = _BoardFile(bp, "data", size, plan.first_line.get(path, 0))

    def flash_needed(self) -> int:
        """Flash the library romfs images take (one partition per directory, 64 KiB units)."""
        per_dir: dict[str, int] = {}
        for f in self.files.values():
            if f.role == "lib" and not self.direct(f.path):
                d = posixpath.dirname(f.path)
                # a file header and the page-aligned data; the image header
                per_dir[d] = per_dir.get(d, self.ps) + self.ps + self.align(f.size)
        return sum(-(-n // MTD_ERASESIZE) * MTD_ERASESIZE for n in per_dir.values())

    def setup(self) -> None:
        self.plan_files()
        if self.libs == "auto":
            free = self.m.flash_size - mtd_table(self.m).next_offset
            self.libs = "xip" if self.m.flash_size and self.flash_needed() <= free else "ramfs"
        elif self.libs == "xip":
            free = self.m.flash_size - mtd_table(self.m).next_offset
            need = self.flash_needed()
            if need > free:
                raise ConfigError(
                    f"libs: the libraries need about {size_text(need)} of flash "
                    f"for their romfs images and the board has "
                    f"{size_text(free)} free; use a larger flash, 'ramfs' or "
                    "'disk'"
                )
        # which filesystem each directory gets
        kinds: dict[str, str] = {}
        for f in self.files.values():
            d = posixpath.dirname(f.path)
            if self.direct(f.path) or d == "/":
                continue
            want = {"lib": {"ramfs": "ramfs", "xip": "romfs", "disk": "ext2"}[self.libs]}.get(
                f.role, "ext2"
            )
            if kinds.get(d) in ("ramfs", "romfs") and want == "ext2":
                continue  # a library's directory keeps the library filesystem
            kinds[d] = want
        self.fs_of_dir = kinds
        for d in sorted(kinds):
            fstype = kinds[d]
            try:
                if fstype == "romfs":
                    files: dict[str, Any] = {}
                    for f in sorted(self.files.values(), key=lambda x: x.path):
                        if posixpath.dirname(f.path) == d:
                            data = f.elf.ljust(f.size, b"\0") if f.elf else bytes(f.size)
                            files[posixpath.basename(f.path)] = FileSpec(
                                data, executable=f.role != "data", align=self.ps
                            )
                    for other in sorted(kinds):
                        if other != d and other.startswith(d.rstrip("/") + "/"):
                            files[other[len(d) + 1 :]] = DirSpec()
                    self.m.mount("romfs", d, files=files, device="mtd")
                else:
                    self.m.mount(fstype, d)
            except ValueError as exc:
                raise ConfigError(f"cannot prepare {d} as {fstype} on the board: {exc}") from exc
        helper = self.m.spawn(name="replay-setup")
        self.helper = helper
        try:
            for f in sorted(self.files.values(), key=lambda x: (x.line, x.path)):
                fs = self.fs_for(f.path)
                self.board_files.append((f.path, fs, f.size))
                if fs == "romfs":
                    continue
                if self.direct(f.path) and f.role == "data":
                    continue  # created when the trace first truncates or maps it
                self.create_file(helper, f)
        finally:
            helper.exit(0)
            self.helper = None

    def fs_for(self, path: str) -> str:
        d = posixpath.dirname(path)
        if self.direct(path) or d == "/":
            return "ramfs"
        return self.fs_of_dir.get(d, "ext2")

    def create_file(
        self, p: Process, f: _BoardFile, size: int | None = None, ev: Event | None = None
    ) -> bool:
        """Create *f* on the board (and its directories); False if it cannot be.

        On ramfs a file is created as ``ftruncate`` from 0 makes it: one
        contiguous run, so it can be mapped directly. A file too large for
        one free block is written page by page instead, as copying it onto
        ramfs would (its mappings are then copies). A failure during the
        replay is recorded at *ev*; one while preparing the board is
        recorded when the trace first uses the file.
        """
        target = f.size if size is None else size
        fs = self.fs_for(f.path)
        before = len(self.m.dmesg()) if ev is None else 0
        try:
            self.mkdirs(p, posixpath.dirname(f.path))
            mode = 0o755 if f.role != "data" else 0o644
            fd = p.open(f.path, consts.O_CREAT | consts.O_RDWR, mode)
            try:
                if target:
                    try:
                        p.ftruncate(fd, target)
                    except SyscallError as err:
                        if fs != "ramfs" or err.errno not in (Errno.EFBIG, Errno.ENOMEM):
                            raise
                        self.pending_alloc = None
                        p.ftruncate(fd, 0)
                        self.write_pages(p, fd, target)
                        self.translations.append(
                            Translation(
                                f.line if ev is None else ev.line,
                                0 if ev is None else ev.pid,
                                "setup" if ev is None else ev.syscall,
                                "not_replayed",
                                f"{f.path} ({size_text(target)}) does not fit one free block of "
                                f"ramfs ({err.errno.name}): written page by page, so its mappings "
                                "are copies, not direct",
                                None,
                                self.source,
                            )
                        )
                if f.elf:
                    p.pwrite(fd, f.elf, 0)
            finally:
                p.close(fd)
        except SyscallError as err:
            with contextlib.suppress(SyscallError):
                p.unlink(f.path)  # a partly written file gives its pages back
            self.missing[f.path] = f"{err.errno.name}: {err.detail or err.strerror}"
            what = f"create {f.path} ({size_text(target)}, {f.role}) on {fs}"
            if ev is not None:
                self.fail(ev, err, what)
            else:
                alloc, explanation, snap = self.explain(err)
                dmesg = tuple(self.m.dmesg()[before:][-16:])
                self.setup_errors[f.path] = ReplayFailure(
                    f.line,
                    0,
                    "setup",
                    err.errno.name,
                    what + " (the board is prepared before the trace runs)",
                    err.detail or str(err.strerror),
                    alloc,
                    explanation,
                    dmesg,
                    self.source,
                    snapshot=snap,
                )
            return False
        if self.direct(f.path):
            self.ramfs_created.add(f.path)
            if ev is not None:
                self.board_files.append((f.path, fs, target))
        return True

    @staticmethod
    def write_pages(p: Process, fd: int, size: int) -> None:
        chunk = bytes(64 * 1024)
        pos = 0
        while pos < size:
            n = p.pwrite(fd, chunk[: min(len(chunk), size - pos)], pos)
            if n <= 0:
                raise SyscallError(Errno.ENOSPC, "no room left for the file")
            pos += n

    @staticmethod
    def mkdirs(p: Process, d: str) -> None:
        cur = ""
        for part in d.split("/"):
            if not part:
                continue
            cur += "/" + part
            try:
                p.stat(cur)
            except SyscallError as err:
                if err.errno != Errno.ENOENT:
                    raise
                p.mkdir(cur, 0o755)
