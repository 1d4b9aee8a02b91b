"""Access of origins to destinations: the compiled kernels and the per-origin table."""
