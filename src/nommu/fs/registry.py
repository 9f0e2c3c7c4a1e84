"""The filesystem types ``Machine.mount`` knows besides ramfs/tmpfs, and boot devices.

``register_filesystems`` fills the machine module's ``FILESYSTEMS`` table
(``fstype -> factory(machine, **options) -> (superblock, root inode, fs
object)``); ``add_boot_devices`` creates the device nodes a machine has from
its construction (``/dev/fb0``).

========  ===================================================  =================
type      options                                              module
========  ===================================================  =================
romfs     files= | image=, device="mtd"|"block", mtd_type,     :mod:`.romfs`
          pointable, size, volume
ext2      files=                                               :mod:`.ext2`
nfs       files=                                               :mod:`.nfs`
cramfs    files=, xip=, device="mtd"|"block", size             :mod:`.cramfs`
========  ===================================================  =================
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from nommu.fs.cramfs import mount_cramfs
from nommu.fs.ext2 import mount_ext2
from nommu.fs.fbdev import add_framebuffer
from nommu.fs.nfs import mount_nfs
from nommu.fs.romfs import mount_romfs

if TYPE_CHECKING:
    from nommu.machine import Machine

FACTORIES: dict[str, Callable[..., Any]] = {
    "romfs": mount_romfs,
    "ext2": mount_ext2,
    "nfs": mount_nfs,
    "cramfs": mount_cramfs,
}


def _checked(fstype: str, factory: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a factory so an unknown option is a ValueError naming it."""
    known = [p for p in inspect.signature(factory).parameters if p != "machine"]

    def mount(machine: Machine, **options: Any) -> Any:
        for name in options:
            if name not in known:
                raise ValueError(
                    f"{name}: unknown {fstype} mount option (known: ro, noexec, {', '.join(known)})"
                )
        return factory(machine, **options)

    mount.__doc__ = factory.__doc__
    return mount


def register_filesystems(table: MutableMapping[str, Callable[..., Any]]) -> None:
    """Add romfs, ext2, nfs and cramfs to *table* (the machine's ``FILESYSTEMS``)."""
    for name, factory in FACTORIES.items():
        table.setdefault(name, _checked(name, factory))


def add_boot_devices(machine: Machine) -> None:
    """Device nodes that exist from boot: ``/dev/fb0`` with a frame buffer."""
    if machine.framebuffer_size:
        add_framebuffer(machine)
