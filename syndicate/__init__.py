"""syndicate: a news syndication service.

``create_app`` is the Flask application factory, so ``flask --app syndicate run`` works.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Create the web application (settings from the environment, then ``test_config``)."""
    from .web import create_app as _create_app

    return _create_app(test_config)
