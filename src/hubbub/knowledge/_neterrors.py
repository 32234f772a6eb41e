"""The store errors of ``hubbub.network.errors``, imported without importing ``hubbub.network``.

Knowledge-store errors are network errors (``KnowledgeStoreError`` derives from
``StoreError``; I/O failures are ``StoreUnavailableError``), so this package
needs the leaf module ``hubbub/network/errors.py``, which imports nothing. A
plain ``from hubbub.network.errors import ...`` would first run
``hubbub/network/__init__.py``, which imports the hub, which imports this
package: when ``hubbub.knowledge`` is imported first, that cycle fails. So when
``hubbub.network`` is not imported yet, the errors module is loaded from its
file under its own name and registered in ``sys.modules``; ``hubbub.network``
then finds it there and uses the same classes (one module object, one set of
classes, whichever package is imported first). One trace of the trick stays:
imported this way, the module is not set as the attribute ``errors`` of the
``hubbub.network`` package (``import hubbub.network.errors as e``, ``from
hubbub.network.errors import X`` and ``mock.patch`` all work). Once the hub
modules import ``hubbub.knowledge`` only for type checking, a plain import
can replace this module.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

__all__ = ["StoreError", "StoreLockedError", "StoreUnavailableError"]

_NAME = "hubbub.network.errors"


def _load() -> ModuleType:
    """Return the ``hubbub.network.errors`` module, loading only that file if need be."""
    module = sys.modules.get(_NAME)
    if module is not None:
        return module
    if "hubbub.network" in sys.modules:  # imported (or being imported): the usual way works
        return importlib.import_module(_NAME)
    import hubbub

    path = os.path.join(os.path.dirname(os.path.abspath(hubbub.__file__ or "")), "network")
    spec = importlib.util.spec_from_file_location(_NAME, os.path.join(path, "errors.py"))
    if spec is None or spec.loader is None:  # pragma: no cover - a broken installation
        return importlib.import_module(_NAME)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_NAME]
        raise
    return module


if TYPE_CHECKING:
    from hubbub.network.errors import StoreError, StoreLockedError, StoreUnavailableError
else:
    _errors = _load()
    StoreError = _errors.StoreError
    StoreLockedError = _errors.StoreLockedError
    StoreUnavailableError = _errors.StoreUnavailableError
