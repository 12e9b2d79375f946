"""What the wire layer holds for the lifetime of the server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ossdoc.config import Settings
from ossdoc.keys import KeyRing

if TYPE_CHECKING:
    from ossdoc.services.multipart import Multipart
    from ossdoc.services.objects import ObjectStore


@dataclass
class AppState:
    settings: Settings
    keys: KeyRing
    store: ObjectStore
    multipart: Multipart
    # The document-processing service (ossdoc.services.docs), once the model is loaded.
    docs: Any = None
    # The asynchronous task runner (ossdoc.services.docs.tasks), with the document service.
    tasks: Any = None
    # The journal of event streams, for clients that resume them (ossdoc.backends.state.streams).
    streams: Any = None
    # Per-access-key quotas of document processing (ossdoc.services.docs.quotas).
    quotas: Any = None
