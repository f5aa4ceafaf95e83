"""The batch scanner: walk (or --files-from), decode pool, batched inference, the session that writes reports.

``synthsight.scanner.scan`` is loaded on first use so that importing the package stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["scan"]


def __getattr__(name: str) -> Any:
    if name == "scan":
        from synthsight.scanner.pipeline import scan

        return scan
    raise AttributeError(name)
