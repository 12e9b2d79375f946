from __future__ import annotations


class LLMError(Exception):
    """The model backend failed (not loaded, server unreachable, bad reply)."""
