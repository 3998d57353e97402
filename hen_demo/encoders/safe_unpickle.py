"""Read tensors out of a pickled PyTorch file without running code from it.

``torch.load(weights_only=True)`` refuses files that pickle whole modules (the DALL-E ``encoder.pkl`` /
``decoder.pkl``) or configuration objects (Lightning ``.ckpt`` hyper-parameters). Here the unpickler
resolves only the globals torch itself allows under ``weights_only`` (tensor and storage rebuilders,
dtypes, OrderedDict, ...); every other class name becomes an inert placeholder (``Stub``) that records its
state but has no behaviour, and any other callable global is refused. So no function from the file is ever
called: loading an untrusted file can fail, but cannot execute its payload. ``module_state_dict`` then
walks the placeholders' ``_parameters`` / ``_buffers`` / ``_modules`` to rebuild a state dict.
"""

from __future__ import annotations

import pickle
import types
from collections import OrderedDict

import torch
import torch._utils as tu

try:  # a private torch API (torch >= 2.4); other versions fall back to the essentials in _allowed
    from torch._weights_only_unpickler import _get_allowed_globals
except ImportError:  # pragma: no cover
    _get_allowed_globals = None


class Stub:
    """Placeholder for a class from the file: keeps constructor arguments and pickled state only."""

    _qualname = "?"

    def __init__(self, *args, **kwargs):
        self._stub_args = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self._stub_state = state

    def __repr__(self):
        return f"<stub {self._qualname}>"


_STUBS: dict[str, type] = {}


def _stub_class(qualname: str) -> type:
    if qualname not in _STUBS:
        _STUBS[qualname] = type(qualname.rsplit(".", 1)[-1], (Stub,), {"_qualname": qualname})
    return _STUBS[qualname]


def _reconstructor(cls, base, state):  # stands in for copyreg._reconstructor: only ever makes stubs
    if isinstance(cls, type) and issubclass(cls, Stub):
        return cls()
    raise pickle.UnpicklingError(f"refusing to reconstruct {cls!r}")


def _allowed() -> dict:
    try:
        return dict(_get_allowed_globals())
    except Exception:  # pragma: no cover - older/newer torch: fall back to the essentials
        return {"torch._utils._rebuild_tensor_v2": tu._rebuild_tensor_v2,
                "torch._utils._rebuild_parameter": tu._rebuild_parameter,
                "collections.OrderedDict": OrderedDict}


class RestrictedUnpickler(pickle.Unpickler):
    allowed = None

    def find_class(self, module, name):
        qual = f"{module}.{name}"
        allowed = type(self).allowed or _allowed()
        type(self).allowed = allowed
        if qual in allowed:
            return allowed[qual]
        if qual in ("copyreg._reconstructor",):
            return _reconstructor
        if qual == "builtins.object":
            return Stub
        if module.startswith("builtins") or module in ("os", "posix", "nt", "subprocess", "sys", "shutil",
                                                       "importlib", "runpy", "socket", "pty", "code"):
            raise pickle.UnpicklingError(f"refusing global {qual} from a pickled file")
        return _stub_class(qual)  # an inert class; constructing it runs nothing from the file


restricted_pickle = types.ModuleType("hen_restricted_pickle")
restricted_pickle.Unpickler = RestrictedUnpickler
restricted_pickle.load = lambda f, **kw: RestrictedUnpickler(f, **kw).load()
restricted_pickle.__name__ = "hen_restricted_pickle"


def load_restricted(path) -> object:
    """torch.load that never runs code from the file (see module docstring)."""
    return torch.load(path, map_location="cpu", weights_only=False, pickle_module=restricted_pickle)


def load_tensors(path) -> object:
    """``torch.load(weights_only=True)`` first; if the file pickles other objects, the restricted loader."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        return load_restricted(path)


def module_state_dict(obj, prefix: str = "") -> dict[str, torch.Tensor]:
    """Parameters and buffers of a pickled nn.Module (real or stub), named like ``state_dict()``."""
    out: dict[str, torch.Tensor] = {}
    d = obj.__dict__ if hasattr(obj, "__dict__") else {}
    for key in ("_parameters", "_buffers"):
        for name, t in (d.get(key) or {}).items():
            if isinstance(t, torch.Tensor):
                out[prefix + name] = t.detach()
    for name, child in (d.get("_modules") or {}).items():
        if child is not None:
            out.update(module_state_dict(child, prefix + name + "."))
    return out
