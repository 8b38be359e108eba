"""
Shared pycuda plumbing: availability check, a retained primary context, cached kernels.

pycuda is optional: everything here imports lazily so the core still imports without it. The
primary context is pushed around each use because nodes run inference in a worker thread, and a
CUDA context is current per thread.
"""
from __future__ import annotations

from contextlib import contextmanager
import threading
from typing import Any, Dict, Iterator, Optional, Tuple

from ..errors import BackendUnavailableError

_LOCK = threading.Lock()
_CONTEXTS: Dict[int, 'CudaContext'] = {}
_MODULES: Dict[Tuple[int, str], Any] = {}


def cuda_available() -> Tuple[bool, str]:
    """Return ``(True, device name)`` with pycuda and a CUDA device, else ``(False, reason)``."""
    try:
        import pycuda.driver as cuda
    except ImportError as exc:
        return False, 'pycuda is not installed (%s)' % exc
    try:
        cuda.init()
        if cuda.Device.count() == 0:
            return False, 'no CUDA device found'
        return True, cuda.Device(0).name()
    except Exception as exc:  # pycuda raises LogicError/RuntimeError without a driver
        return False, 'CUDA driver not usable (%s)' % exc


def resolve_device(device: str) -> str:
    """Map a ``device`` parameter (``auto``, ``cpu``, ``cuda``) to ``cpu`` or ``cuda``."""
    if device not in ('auto', 'cpu', 'cuda'):
        raise ValueError("device must be auto, cpu or cuda, not '%s'" % device)
    if device == 'cpu':
        return 'cpu'
    ok, reason = cuda_available()
    if ok:
        return 'cuda'
    if device == 'cuda':
        raise BackendUnavailableError('device cuda was asked for but %s: install pycuda on a '
                                      'CUDA machine, or set device to cpu or auto' % reason)
    return 'cpu'


class CudaContext:
    """The retained primary context of one device, shared by every user in the process."""

    def __init__(self, device_id: int = 0) -> None:
        import pycuda.driver as cuda
        cuda.init()
        self.device_id = device_id
        self.device = cuda.Device(device_id)
        self.context = self.device.retain_primary_context()

    @classmethod
    def get(cls, device_id: int = 0) -> 'CudaContext':
        with _LOCK:
            if device_id not in _CONTEXTS:
                _CONTEXTS[device_id] = cls(device_id)
            return _CONTEXTS[device_id]

    @contextmanager
    def active(self) -> Iterator[None]:
        """Make this context current in the calling thread for the duration of the block."""
        import pycuda.driver as cuda
        self.context.push()
        try:
            yield
        finally:
            cuda.Context.pop()

    @property
    def name(self) -> str:
        return str(self.device.name())


def compile_module(source: str, device_id: int = 0, options: Optional[list] = None) -> Any:
    """Compile CUDA C ``source`` once per device (call with the context active)."""
    from pycuda.compiler import SourceModule
    key = (device_id, source)
    with _LOCK:
        module = _MODULES.get(key)
        if module is None:
            module = SourceModule(source, options=options or ['-O3'],
                                  no_extern_c=False)
            _MODULES[key] = module
        return module
