"""The page's router under the name `api.app` loads optional routers by (`mastertape.web.routes`).

The routes themselves live in `mastertape.api.routes.web` (`/` and `/static/{name}`).
"""

from mastertape.api.routes.web import router

__all__ = ["router"]
