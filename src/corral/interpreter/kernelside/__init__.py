"""Files that run inside kernels, by path (a kernel's Python need not have Corral installed)."""
