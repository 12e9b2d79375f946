"""Every OSS route, in precedence order."""

from __future__ import annotations

from ossdoc.wire.routes import bucket, defaults, multipart, objects, process, service, tasks, versions
from ossdoc.wire.routing import Router

router = Router()
for module in (service, bucket, multipart, process, tasks, versions, objects, defaults):
    router.include(module.router)

__all__ = ["router"]
