"""Keep the calling thread's alternate signal stack across OpenVINO calls that load its CPU plugin.

OpenVINO's CPU plugin (``SigAltStackSetup``, for AMX's large signal frames) installs an mmap'd
alternate signal stack on the thread that loads it and unmaps it when the plugin goes away, but puts
the previous one back only when that same stack is still current on the thread that unloads it. When
it is not, the thread is left pointing at unmapped memory, and CPython runs its signal handlers on the
alternate stack (``SA_ONSTACK``): the next Ctrl-C or SIGTERM in that process is a segmentation fault
instead of a clean stop (seen with OpenVINO 2026.4 after ``--precision auto`` had timed its options:
a later interrupted scan in the same process died). Putting the thread's own stack back right after
the plugin is loaded makes the plugin's stack unused, so unmapping it later is harmless; a disabled
or larger stack (faulthandler's) serves signal frames at least as well.
"""

from __future__ import annotations

import contextlib
import ctypes
import sys
from collections.abc import Iterator


class _StackT(ctypes.Structure):
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc if hasattr(libc, "sigaltstack") else None
    except OSError:
        return None


def current() -> tuple[int, int, int] | None:
    """(address, flags, size) of this thread's alternate signal stack; None where it cannot be read."""
    libc = _libc()
    if libc is None:
        return None
    stack = _StackT()
    if libc.sigaltstack(None, ctypes.byref(stack)) != 0:
        return None
    return int(stack.ss_sp or 0), int(stack.ss_flags), int(stack.ss_size)


@contextlib.contextmanager
def kept() -> Iterator[None]:
    """Run the body, then give this thread back the alternate signal stack it had before."""
    libc = _libc()
    before = _StackT()
    if libc is None or libc.sigaltstack(None, ctypes.byref(before)) != 0:
        yield
        return
    try:
        yield
    finally:
        before.ss_flags &= ~1  # SS_ONSTACK describes the moment it was read, not a setting
        libc.sigaltstack(ctypes.byref(before), None)
