"""Numba kernels over flat arrays. Nothing here knows about specs, tables or files."""
