"""Numba kernels: pure functions of arrays and integer codes, no Python objects.

Nothing here is compiled at import; every function compiles on first call and is
cached on disk (``cache=True``).
"""
