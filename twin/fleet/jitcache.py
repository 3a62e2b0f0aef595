"""numba's on-disk cache for a compiled function that inlines code from other modules.

numba keys a cached function on the source of the file that defines it only
(its documented limitation: "cache invalidation fails to recognize changes in
functions defined in a different file"), so a change to an inlined helper in
another module would leave the old machine code in use, silently.
:func:`cache_on_sources` keys the cache on the content of every file the
function's code comes from instead. The fleet's pass inlines helpers from
:mod:`twin.fleet.circuit`, :mod:`twin.fleet.split`, :mod:`twin.fleet.thermal`,
:mod:`twin.fleet.limits` and :mod:`twin.fleet.bms` and freezes the indices of
:mod:`twin.fleet.layout` into its code: all of them are its sources.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["cache_on_sources", "source_stamp"]


def source_stamp(paths: Iterable[str | Path]) -> bytes:
    """SHA-256 over the contents of ``paths``, in order."""
    h = hashlib.sha256()
    for p in paths:
        h.update(Path(p).read_bytes())
    return h.digest()


def cache_on_sources(dispatcher: Any, sources: Iterable[str | Path]) -> Any:
    """Give the numba ``dispatcher`` an on-disk cache that goes stale when any file of ``sources`` changes.

    The cache lives where numba would put it (``NUMBA_CACHE_DIR``, the source's ``__pycache__`` or the
    user-wide cache). With a numba that lacks the cache classes used here, numba's own cache (stale only
    when the defining file changes) is used instead."""
    paths = tuple(Path(p).resolve() for p in sources)
    try:
        from numba.core.caching import (
            CompileResultCacheImpl,
            FunctionCache,
            InTreeCacheLocator,
            UserProvidedCacheLocator,
            UserWideCacheLocator,
        )
    except ImportError:  # pragma: no cover - another numba
        dispatcher.enable_caching()
        return dispatcher

    class _Stamped:
        def get_source_stamp(self) -> bytes:
            return source_stamp(paths)

    locators = [
        type(cls.__name__, (_Stamped, cls), {})
        for cls in (UserProvidedCacheLocator, InTreeCacheLocator, UserWideCacheLocator)
    ]
    impl = type("SourcesCacheImpl", (CompileResultCacheImpl,), {"_locator_classes": locators})
    cache = type("SourcesFunctionCache", (FunctionCache,), {"_impl_class": impl})
    dispatcher._cache = cache(dispatcher.py_func)
    dispatcher._sources = paths  # what the cache is keyed on (tests read it)
    return dispatcher
