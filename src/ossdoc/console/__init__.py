"""The web console: a page served under ``/-/`` and the JSON API it uses, on behalf of a signed-in key."""

from ossdoc.console.app import create_console

__all__ = ["create_console"]
