"""A local web app and JSON API around a saved sersk model.

:func:`create_app` builds an ASGI application (Starlette) that serves one page
(upload or record audio, see the emotion timeline, the probabilities of the
whole recording and the spectrogram) and a JSON API (``POST /api/predict``,
``GET /api/model``). ``sersk serve MODEL.sersk`` runs it with uvicorn.

Starlette, uvicorn and python-multipart are an optional extra:
``pip install 'sersk[serve]'``. This module imports without them;
:func:`create_app` says what to install when they are missing.
"""

from __future__ import annotations

from ._app import DEFAULT_MAX_BYTES, DEFAULT_MAX_SECONDS, create_app

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_SECONDS", "create_app"]
