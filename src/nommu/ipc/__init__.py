"""Inter-process communication: System V shared memory (``shm``)."""
