"""ossdoc: a self-hosted Alibaba Cloud OSS with intelligent document processing."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
