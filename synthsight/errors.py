"""Errors that carry a one-line message for the user and the exit code the CLI returns.

Exit codes (the README's "Exit codes"): 1 the run itself failed, 2 usage or environment error
(bad option, missing model, TensorRT or GPU absent when asked for), 3 a scan found nothing to scan
(its reports are written, empty), 130 interrupted (Ctrl-C, SIGINT), 143 stopped by SIGTERM (a SLURM
time limit, a pod deleted): 128 + the signal, as a shell reports it.
"""

from __future__ import annotations

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NOTHING_SCANNED = 3  # scan: the paths hold no file to scan (a wrong folder or an unmounted share?)
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


def exit_code_for(signum: int | None) -> int:
    """The exit code of a run stopped by ``signum`` (SIGINT when not known)."""
    return 128 + signum if signum else EXIT_INTERRUPTED


class SynthsightError(Exception):
    """Base class: its message is shown to the user as one line, never with a traceback."""

    exit_code = EXIT_FAILED


class StoppedBeforeScanning(SynthsightError):
    """SIGINT or SIGTERM arrived before any file was read or any report written (a cluster starting up)."""

    def __init__(self, signum: int, message: str):
        super().__init__(message)
        self.exit_code = exit_code_for(signum)


class ScanInterrupted(SynthsightError):
    """The scan stopped early for a reason outside it (the Ray node of its driver went away): its reports hold
    every record so far and say interrupted; the same command with --resume continues it.

    ``end_process``: the CLI ends the process right after the line (the reports are closed by then), since
    what is left to do at exit (Ray's own shutdown) waits on what was lost and prints its complaints after it."""

    end_process = False


class UsageError(SynthsightError):
    """The user asked for something that cannot work here (bad option, missing file, no GPU)."""

    exit_code = EXIT_USAGE


class ModelFileError(UsageError):
    """A model file is missing, unreadable, untrusted or inconsistent."""


class BackendUnavailable(UsageError):
    """The requested backend or device is not present on this machine (e.g. TensorRT without a GPU)."""


# The error reason of a record whose decode process died: it says nothing about the file (the next
# file of the batch may have been the culprit, or the machine ran out of memory), so --resume reads it again.
WORKER_DIED = "worker-died"
# The error reason of a record whose file kept a decode process busy past --decode-timeout (it was stopped).
TIMED_OUT = "timed-out"


class DecodeError(SynthsightError):
    """One image could not be turned into pixels. `reason` is a short machine-readable cause."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message
