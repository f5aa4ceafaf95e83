"""The review page: a self-contained HTML report of what a scan found (`synthsight report --html`).

``synthsight.review.write_review`` is loaded on first use so that importing the package stays light.
"""

from __future__ import annotations

from typing import Any

__all__ = ["ReviewConfig", "write_review"]

# Known to the CLI's options without loading the page builder.
DEFAULT_THUMBS = 3000
DEFAULT_PAGE_SIZE = 100
PAGE_SIZES = (25, 50, 100, 200, 500)  # the page never renders more rows than the largest at once


def __getattr__(name: str) -> Any:
    if name in __all__:
        from synthsight.review import page

        return getattr(page, name)
    raise AttributeError(name)
