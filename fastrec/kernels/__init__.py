"""Numba kernels: every ``@njit`` function of fastrec, grouped by what it works on.

Kernels import nothing from the rest of the package. They take raw CSR arrays
(``indptr, indices, data``) and plain numpy arrays, and each has a plain-numpy
reference in the tests that it is checked against.
"""
