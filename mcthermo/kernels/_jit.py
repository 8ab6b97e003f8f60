"""One place for the Numba options shared by every kernel."""
import numba

#: Scalar helpers inlined into the hot loops.
inline = numba.njit(cache=True, nogil=True, inline="always", error_model="numpy")
#: Serial kernels.
kernel = numba.njit(cache=True, nogil=True, error_model="numpy")
#: Kernels parallel over trajectory blocks (``numba.prange``).
parallel_kernel = numba.njit(cache=True, nogil=True, parallel=True, error_model="numpy")
