"""Every OSS route, in precedence order."""

from __future__ import annotations

from ossdoc.wire.routes import bucket, multipart, objects, process, service, tasks
from ossdoc.wire.routing import Router

router = Router()
for module in (service, bucket, multipart, process, tasks, objects):
    router.include(module.router)

__all__ = ["router"]
