"""ASGI entry point: HTTP through Django (streaming views included), Luxx's MCP server at
/mcp, websockets reserved.

Every request passes the body limits first (``luxx.bodylimit``): in front of the whole
application, and inside daphne's own request handling when daphne serves."""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "luxx.settings")
django_asgi_app = get_asgi_application()

from django.urls import get_resolver  # noqa: E402

# Import every view (and the SDKs behind them) before serving: the first request would
# otherwise wait seconds for them.
get_resolver().url_patterns  # noqa: B018

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from luxx import loopsafe  # noqa: E402
from luxx.asyncapi import async_views_on_shared_thread  # noqa: E402
from luxx.bodylimit import BodyLimitMiddleware, install_in_daphne  # noqa: E402
from mcplink.asgi import with_mcp  # noqa: E402

# Looked up at each call, so installing after the middleware chain is built is enough.
loopsafe.install()
install_in_daphne()
application = BodyLimitMiddleware(
    ProtocolTypeRouter({"http": with_mcp(async_views_on_shared_thread(django_asgi_app)), "websocket": URLRouter([])})
)

# What start-up made (about 350,000 objects) lives as long as the process: keep it out of
# the garbage collector's scans. A full collection of it took about 175 ms, a pause for
# every open stream each time one ran under load; frozen, it is not scanned at all.
gc.collect()
gc.freeze()
