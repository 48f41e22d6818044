"""Load cached CPU kernels without Numba's full context refresh.

Before it loads a function from its disk cache, Numba refreshes the CPU target
context: it imports and registers every lowering implementation it ships (linear
algebra, random generators, typed containers, strings, datetimes, ...). Compiling
needs them; loading machine code does not. On the first load of a process that
refresh takes 0.1-0.2 s, about a tenth of a fresh process's import, load and
first fit of a small model.

``load_without_refresh`` makes fastmlp's kernels skip it and do only what cached
code needs: start Numba's runtime (NRT, whose functions the kernels call) and
register the C symbols that Numba modules add when imported (the hash secret of
``numba.cpython.hashing``; every other C helper is registered when the CPU
context is created). A cache miss still compiles through Numba's compiler, which
refreshes the context itself, and other code's Numba functions keep Numba's own
behaviour.
"""

import sys
import types

from numba.core.caching import Cache
from numba.core.dispatcher import Dispatcher

KERNELS = "fastmlp.kernels."


def _load_overload(cache, sig, target_context):
    """``Cache.load_overload`` minus the refresh of the target context."""
    import numba.cpython.hashing  # noqa: F401  (adds the hash secret's symbols)
    from numba.core.runtime import rtsys

    rtsys.initialize(target_context)
    with cache._guard_against_spurious_io_errors():
        return cache._load_overload(sig, target_context)


def load_without_refresh():
    """Give the disk caches of the loaded ``fastmlp.kernels`` modules' kernels the
    loader above; idempotent. Leaves them alone on a Numba whose cache class
    lacks the methods it relies on."""
    if not all(hasattr(Cache, name) for name in ("_load_overload",
                                                  "_guard_against_spurious_io_errors")):
        return
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(KERNELS):
            continue
        for value in list(vars(module).values()):
            cache = getattr(value, "_cache", None) if isinstance(value, Dispatcher) else None
            if isinstance(cache, Cache) and "load_overload" not in vars(cache):
                cache.load_overload = types.MethodType(_load_overload, cache)
