"""The web console: server-rendered pages for the people the platform is for.

Jinja2 templates, zh-CN first with English (:mod:`.i18n`), progressive
enhancement with a vendored htmx, and every asset served from the package
(:mod:`.assets`). The pages are thin views over the same service functions
and ``authorize()`` as the API; sign-in makes a server-side session
(:mod:`datacompact.registry.sessions`). :func:`create_console` builds the
ASGI app; the API's app factory makes it the fallback of its router with
:class:`ConsoleFallback`, so it answers at ``/`` what no API route matches
(see docs/console.md).
"""

from datacompact.console.app import ConsoleFallback, create_console

__all__ = ["ConsoleFallback", "create_console"]
