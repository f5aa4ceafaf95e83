"""Joining Ray for a scan: a local Ray or a cluster, with the signals a user sends while it starts honoured
(SIGINT/SIGTERM: one line, no file read, no report written) and Ray's own noise kept off the console.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from typing import Any

from synthsight.errors import StoppedBeforeScanning, UsageError
from synthsight.extras import missing
from synthsight.machine import usable_cores
from synthsight.scanner.session import StopFlag


def stop_if_asked(stop: StopFlag) -> None:
    if stop.signal is not None:
        name = signal.Signals(stop.signal).name
        said = f"{name} while Ray was starting: no file was read and no report written"
        raise StoppedBeforeScanning(stop.signal, said)


@contextlib.contextmanager
def connect(address: str, stop: StopFlag | None = None) -> Iterator[str]:
    """Start a local Ray (``local``) or join a cluster (``auto``, ``HOST:PORT``, ``ray://...``); yields its address.

    A Ray already initialised in this process (a notebook, the tests) is used as it is and left running.
    ``stop`` takes SIGTERM back once Ray is up (ray.init sets a handler that exits with status 15); a SIGTERM
    that Ray's handler caught during the start is recorded in it.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # nothing leaves the machine unless asked for
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as exc:
        raise UsageError(missing("ray") or f"--ray: Ray Data could not be imported ({exc})") from None
    if ray.is_initialized():
        yield ray.get_runtime_context().gcs_address
        return
    kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    # ray.init starts an API server although no dashboard is asked for, and a signal that stops the start can make
    # it log "'NoneType' object has no attribute 'internal_kv_get'" on the console, around synthsight's one line
    # (seen once in the Ctrl-C tests). The scan says itself why Ray could not start (below), so that logger has
    # nothing the user needs; this process ends with the scan, so its level is not put back.
    logging.getLogger("ray._private.services").setLevel(logging.CRITICAL)
    try:
        if address == "local":
            # A local Ray's token authentication is what it should be; its notice about it is noise here.
            with quiet("ray._private.authentication.authentication_token_setup"):
                ray.init(address="local", num_cpus=usable_cores(), **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        if stop is not None:  # a terminal's Ctrl-C reaches Ray's own processes too, and fails the start
            stop_if_asked(stop)
        hint = "start one (`ray start --head` on a node) or use --ray local"
        raise UsageError(f"--ray {address}: cannot join a Ray cluster ({reason(exc)}); {hint}") from None
    except SystemExit as exc:  # Ray's own SIGTERM handler, during its start
        if stop is None or exc.code != signal.SIGTERM:
            raise
        stop.signal = signal.SIGTERM
        with contextlib.suppress(Exception):
            ray.shutdown()
        yield ""
        return
    finally:
        if stop is not None:
            stop.reclaim()
    gone = raylet_probe()
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        if not gone():  # with this node's Ray gone, ray.shutdown() waits on it (Ray ends the process soon)
            ray.shutdown()


def raylet_probe() -> Callable[[], bool]:
    """A check that this node's raylet (the Ray process the driver talks to) is gone: its socket refuses.

    Ray has no public call for it; without a local raylet (a ``ray://`` client) the check says never."""
    import ray

    try:
        path = ray._private.worker.global_worker.node.raylet_socket_name
    except AttributeError:
        return lambda: False
    if not isinstance(path, str) or path.startswith("tcp://"):
        return lambda: False

    def gone() -> bool:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            try:
                s.connect(path)
            except (FileNotFoundError, ConnectionRefusedError):
                return True
            except OSError:  # busy, timed out: not known to be gone
                return False
        return False

    return gone


def mute_stopping_executor() -> None:
    """A scan that stopped waiting on Ray Data (a stall, a signal, a lost node) leaves its executor thread to stop
    when its own wait ends, often after ray.shutdown(): its cancel calls then joined the cluster again (Ray's
    auto-init) and it logged a traceback of Ray's below the scan's one line (seen with a worker node lost, then
    SIGTERM or the stall watchdog). Neither helps the user; both are turned off for this process, which ends with
    the scan (Ray has no public switch for its auto-init)."""
    import ray._private.auto_init_hook as auto_init

    auto_init.enable_auto_connect = False
    for name in ["ray.data", *logging.root.manager.loggerDict]:  # Ray Data sets levels on some of its own
        if name == "ray.data" or name.startswith("ray.data."):
            logging.getLogger(name).setLevel(logging.CRITICAL)


@contextlib.contextmanager
def quiet(name: str, level: int = logging.ERROR) -> Iterator[None]:
    logger = logging.getLogger(name)
    saved = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(saved)


def reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
