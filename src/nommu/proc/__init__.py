"""Text views of /proc, byte for byte in the kernel's formats (fs/proc)."""
