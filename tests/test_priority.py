"""Heavy handlers run in a fresh low-priority thread (hen_demo.ui.priority): same items, same errors, same
context, the caller's thread untouched, and a closed consumer stops the worker."""

import contextvars
import os
import sys
import threading

import pytest

from hen_demo.ui import priority

LINUX = sys.platform.startswith("linux")
who = contextvars.ContextVar("who", default="nobody")


def nice_of_this_thread() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_generator_items_context_and_priority():
    seen = {}

    @priority.low_priority
    def heavy(k):
        seen["thread"] = threading.get_ident()
        seen["nice"] = nice_of_this_thread() if LINUX else None
        seen["who"] = who.get()
        for i in range(k):
            yield i * i

    who.set("visitor")
    before = nice_of_this_thread() if LINUX else None
    assert list(heavy(5)) == [0, 1, 4, 9, 16]
    assert seen["thread"] != threading.get_ident() and seen["who"] == "visitor"
    if LINUX:
        assert seen["nice"] == min(19, before + priority.HEAVY_NICE) and nice_of_this_thread() == before


def test_plain_function_and_errors_cross_over():
    @priority.low_priority
    def add(a, b=1):
        return a + b

    @priority.low_priority
    def bad():
        raise ValueError("Pick a stored memory between #0 and #9.")

    assert add(2, b=3) == 5
    with pytest.raises(ValueError, match="between #0 and #9"):
        bad()


def test_closing_the_consumer_stops_the_worker():
    stopped = threading.Event()

    @priority.low_priority
    def endless():
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            stopped.set()

    gen = endless()
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()  # a cancelled event, or the time limit
    assert stopped.wait(30)
