"""Heavy jobs run at a low CPU priority, so the default requests of other visitors take the cores first.

On two cores, one visitor looping U-Hop Stage I (300 iterations) used to slow every Explore retrieval 4×: both
ran at the same priority, and each of their BLAS calls split the cores into threads that then waited for one
another. :func:`low_priority` runs a handler (a function or a generator) in a fresh thread whose scheduling
priority is lowered (Linux ``nice`` :data:`HEAVY_NICE`, per thread, inherited by the OpenMP threads it starts): the
kernel gives the cores to normal-priority requests first, and the heavy job uses what they leave. It still gets
the whole machine when nobody else is asking. The thread is fresh because a lowered priority cannot be raised
again without privileges: a worker thread of Gradio's pool must never keep it.

The handler runs in a copy of the caller's ``contextvars`` context (Gradio's progress bar and request live there).
Items a generator yields are handed over one at a time; closing the consumer (a cancelled event, the time limit)
stops the worker at its next yield. On systems without per-thread priorities (not Linux) it runs unchanged.

``python -m hen_demo bench --load --heavy`` measures the effect (``hen_demo.bench_heavy``).
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import os
import queue
import sys
import threading

# CFS weight 110 against 1,024 for a normal thread: about 10 % of a core when they compete (0: heavy jobs at the
# normal priority, e.g. to measure the difference with bench --load --heavy)
HEAVY_NICE = int(os.environ.get("HEN_HEAVY_NICE", "10"))

_DONE = object()


def lower_this_thread(nice: int = HEAVY_NICE) -> bool:
    """Lower the calling thread's priority by ``nice`` (Linux: per thread); True when it was lowered."""
    if nice <= 0 or not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        return False
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + int(nice)))
        return True
    except OSError:
        return False


class _Stopped(Exception):
    """Raised inside the worker when the consumer went away."""


def _relay(fn, args, kwargs, nice: int):
    """Run generator function ``fn`` in a low-priority thread; yield its items here, re-raise its errors here."""
    box: queue.Queue = queue.Queue(maxsize=1)  # one item in flight: the worker waits while the consumer sends
    stop = threading.Event()
    ctx = contextvars.copy_context()

    def put(item):
        while not stop.is_set():
            try:
                box.put(item, timeout=0.5)
                return
            except queue.Full:
                continue
        raise _Stopped

    def work():
        lower_this_thread(nice)
        items = None
        try:
            items = fn(*args, **kwargs)
            for item in items:
                put(("item", item))
            put(("done", None))
        except _Stopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            try:
                put(("error", exc))
            except _Stopped:
                pass
        finally:
            if items is not None:
                items.close()  # the handler's own cleanup (finally blocks) runs in its thread

    thread = threading.Thread(target=lambda: ctx.run(work), name=f"hen-heavy-{fn.__name__}", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = box.get()
            if kind == "item":
                yield value
            elif kind == "error":
                raise value
            else:
                return
    finally:
        stop.set()


def low_priority(fn=None, *, nice: int = HEAVY_NICE):
    """Decorator: run handler ``fn`` (plain or generator) in a fresh thread at a lowered CPU priority."""
    if fn is None:
        return functools.partial(low_priority, nice=nice)
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            yield from _relay(fn, args, kwargs, nice)

        return gen_wrapper

    def as_generator(*args, **kwargs):
        yield fn(*args, **kwargs)

    as_generator.__name__ = getattr(fn, "__name__", "handler")

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for value in _relay(as_generator, args, kwargs, nice):
            return value

    return wrapper
