"""System V shared memory calls (ipc/shm.c) and POSIX ``shm_open`` over ``/dev/shm``."""

from __future__ import annotations

from nommu.consts import O_CLOEXEC, O_NOFOLLOW
from nommu.errors import Errno, SyscallError
from nommu.ipc.shm import ShmidDs
from nommu.process.open import OpenCalls


class ShmCalls(OpenCalls):
    """``shmget``/``shmat``/``shmdt``/``shmctl``, ``shm_open``/``shm_unlink``."""

    def shmget(self, key: int, size: int, shmflg: int) -> int:
        """``shmget()``: see :func:`nommu.ipc.shm.sys_shmget`."""
        self._enter()
        from nommu.ipc.shm import sys_shmget

        return sys_shmget(self._process(), key, size, shmflg)

    def shmat(self, shmid: int, shmaddr: int = 0, shmflg: int = 0) -> int:
        """``shmat()``: see :func:`nommu.ipc.shm.do_shmat` (ENODEV by default, hazard H3)."""
        self._enter()
        from nommu.ipc.shm import do_shmat

        return do_shmat(self._process(), shmid, shmaddr, shmflg)

    def shmdt(self, shmaddr: int) -> None:
        """``shmdt()``: the exact start of an attachment (NOMMU), else EINVAL."""
        self._enter()
        from nommu.ipc.shm import sys_shmdt

        sys_shmdt(self._process(), shmaddr)

    def shmctl(self, shmid: int, cmd: int) -> ShmidDs | None:
        """``shmctl()``: IPC_STAT returns a :class:`ShmidDs`; IPC_RMID returns None."""
        self._enter()
        from nommu.ipc.shm import sys_shmctl

        return sys_shmctl(self._process(), shmid, cmd)

    def shm_open(self, name: str, flags: int, mode: int = 0o600) -> int:
        """POSIX ``shm_open()``: the C library opens ``/dev/shm/<name>``.

        *name* must be ``/`` followed by a non-empty name without another
        ``/`` (EINVAL; ENAMETOOLONG above NAME_MAX); the descriptor is
        close-on-exec (``O_CLOEXEC|O_NOFOLLOW`` are added, as the C library
        does). ``/dev/shm`` is ramfs here (tmpfs without an MMU), so
        ``ftruncate`` from size 0 allocates the object's contiguous pages and
        ``MAP_SHARED`` maps them directly (fs/ramfs/file-nommu.c).
        """
        return self.open(self._shm_path(name), flags | O_CLOEXEC | O_NOFOLLOW, mode)

    def shm_unlink(self, name: str) -> None:
        """POSIX ``shm_unlink()``: unlink ``/dev/shm/<name>``; pages go with the last user."""
        self.unlink(self._shm_path(name))

    @staticmethod
    def _shm_path(name: str) -> str:
        if not isinstance(name, str):
            raise TypeError(f"name: expected str, got {type(name).__name__}")
        rest = name[1:]
        if not name.startswith("/") or not rest or "/" in rest or rest in (".", ".."):
            raise SyscallError(
                Errno.EINVAL, f"shared memory name {name!r} must be '/' and a name without '/'"
            )
        if len(rest.encode()) >= 255:
            raise SyscallError(Errno.ENAMETOOLONG, "shared memory name too long")
        return "/dev/shm/" + rest
