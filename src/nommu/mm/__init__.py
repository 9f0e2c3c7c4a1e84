"""The memory-management core: physical memory, the buddy allocator, regions,
per-process VMAs and the no-MMU mapping engine (the model of linux/mm)."""
