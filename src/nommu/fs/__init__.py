"""Filesystems and devices: the VFS objects a no-MMU mapping is decided on."""
