"""Which browser session a request comes from, and that session's own images (``hen_demo.data.session_bank``).

:func:`install` puts one layer in front of the app's ``process_api`` (the one call every event goes through, a
browser's or a script's): it records the caller's Gradio session id in a context variable for the length of the
event, so the shared code (``state.RESOURCES.bank("mine", ...)``) finds the caller's own images and nobody else's
without each handler passing a request. It also registers ``demo.unload``: when the tab closes (Gradio's
heartbeat ends), the session's images are deleted; the housekeeping thread drops sessions idle for
``HEN_SESSION_IDLE_S`` seconds (default 30 min on a public server, 2 h locally).

The store holds at most ``HEN_SESSION_BANKS`` sessions' images (default 32); the least recently used goes first
and its owner reads why on their next call. A gradio_client script has a session too (one per ``Client``).
"""

from __future__ import annotations

import contextvars
import functools
import hashlib
import os
from pathlib import Path

import gradio as gr

from hen_demo.data.session_bank import SessionImages, SessionStore
from hen_demo.data.uploads import upload_caps
from hen_demo.ui import gradio_cache, limits

MINE = "mine"  # the dataset value of "your images" in every dataset dropdown
_SESSION: contextvars.ContextVar[str | None] = contextvars.ContextVar("hen_session", default=None)


def _idle_s() -> float:
    raw = os.environ.get("HEN_SESSION_IDLE_S")
    return float(raw) if raw else (1800.0 if limits.public_mode() else 7200.0)


def _track(path) -> None:
    """Remember an image file Gradio's cache handed to a session that holds its own images (a retrieval of them,
    a thumbnail): it is deleted with the session (``SessionStore.drop``)."""
    sid = _SESSION.get()
    if sid:
        mine = STORE.get(sid, create=False)
        if mine is not None and len(mine):
            mine.files.add(Path(path))


def _private_folder() -> str | None:
    """The cache sub-folder of a session that holds its own images (None for every other session): its pictures
    are not shared with other sessions through the content-addressed cache, so they can go with it."""
    sid = _SESSION.get()
    mine = STORE.get(sid, create=False) if sid else None
    if mine is None or not len(mine):
        return None
    return "session-" + hashlib.sha256(sid.encode()).hexdigest()[:16]


STORE = SessionStore(max_sessions=int(os.environ.get("HEN_SESSION_BANKS", "32")), idle_s=_idle_s(),
                     caps=lambda: upload_caps(limits.public_mode()))


def session_id() -> str | None:
    """The Gradio session id of the event being handled (None outside an event)."""
    return _SESSION.get()


def current(create: bool = True) -> SessionImages | None:
    """The calling session's own images (ValueError outside an event: they belong to a browser session)."""
    return STORE.get(session_id(), create=create)


def count() -> int:
    """How many images the calling session holds (0 outside an event or before any were added)."""
    sid = session_id()
    if not sid:
        return 0
    mine = STORE.get(sid, create=bool(STORE.default))
    return len(mine) if mine is not None else 0


def install(demo: gr.Blocks) -> None:
    """Record the caller's session around every event of ``demo``, and delete its images when it ends.
    Call inside ``with demo:`` (the unload event is registered there)."""
    original = demo.process_api

    @functools.wraps(original)
    async def process_api(*args, **kwargs):
        sid = kwargs.get("session_hash")
        request = kwargs.get("request")
        if sid is None and request is not None and not isinstance(request, list):
            sid = getattr(request, "session_hash", None)
        token = _SESSION.set(sid)
        try:
            return await original(*args, **kwargs)
        finally:
            _SESSION.reset(token)

    demo.process_api = process_api
    demo.unload(_unload)
    if _track not in gradio_cache.WRITE_HOOKS:
        gradio_cache.WRITE_HOOKS.append(_track)
    if _private_folder not in gradio_cache.PATH_HOOKS:
        gradio_cache.PATH_HOOKS.append(_private_folder)


def _unload(request: gr.Request) -> None:
    STORE.drop(getattr(request, "session_hash", None) or "")
