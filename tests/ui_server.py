"""Launch the real app on a free localhost port for the UI tests (gradio_client and the browser test)."""

from __future__ import annotations

import socket
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_app():
    """Yield the URL of the whole app (all tabs), launched in a background thread; close it afterwards."""
    from hen_demo.ui.app import build_app, launch

    demo = build_app(warm=False)
    port = free_port()
    launch(demo, host="127.0.0.1", port=port, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        # Gradio deletes every cache file a Blocks handed out when its server stops. The image cache is content-
        # addressed (ui/gradio_cache.py) and shared by all the apps this test process runs, so a closing app
        # would delete pictures a later app has already handed to its page; in production one app owns its cache.
        for files in demo.temp_file_sets:
            files.clear()
        demo.close()
