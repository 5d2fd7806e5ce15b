"""A watchdog over a solver's time limit: a solver that is still running past its limit is stopped.

Solvers pass their limit to their backend (HiGHS, CP-SAT, Optuna), but work outside the backend's clock (building a
Pyomo model, translating it for HiGHS, enumerating plans in Python) can run past it. :func:`watched` runs a solver and,
``grace_s`` after its limit, raises :class:`Overrun` in the solving thread (:c:func:`PyThreadState_SetAsyncExc`: it is
delivered at the thread's next Python instruction, so a backend's own C code, which honours its limit, finishes its
call first). The caller turns an overrun into a ``time_limit`` outcome. It works in any thread (a Dask worker's too).
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Overrun(BaseException):
    """Raised in a solving thread that ran past its time limit (a BaseException: ``except Exception`` lets it pass)."""


def _not_an_overrun(record: logging.LogRecord) -> bool:
    """Pyomo logs an error for a model component whose construction was interrupted; an overrun is no error."""
    return "Overrun" not in record.getMessage()


logging.getLogger("pyomo.core").addFilter(_not_an_overrun)


REFIRE_S = 0.2  # how often a fired watchdog raises again while the solver runs on (it swallowed the exception) [s]


def grace_s(time_limit_s: float) -> float:
    """How long past its limit a solver may run before the watchdog stops it: 10 % + 0.5 s, the allowance of
    10 % + 1 s less half a second for the exception to land (it waits for the C call under way: a Pyomo-to-HiGHS
    translation step took 0.31 s on CI). A solver stopped loses its incumbent, so the grace is as long as the
    allowance lets it be (a solver finishing its last step a little late keeps its plan)."""
    return 0.1 * time_limit_s + 0.5


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


def watched(run: Callable[[], T], time_limit_s: float, overrun: Callable[[], T]) -> T:
    """``run()``; when it is still running :func:`grace_s` after ``time_limit_s`` it is stopped and ``overrun()`` is
    returned instead (an :class:`Overrun` from an outer watchdog passes on).

    The exception lands wherever the solver is: code with a bare ``except:`` can swallow it (Pyomo does while it
    builds a model), so it is raised again every :data:`REFIRE_S` until ``run()`` ends, and whatever ``run()`` raises
    once it has fired counts as the overrun (a half-built model can fail in its own way: Pyomo's ``DeveloperError``)."""
    target = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False, "fired": False}
    timers: list[threading.Timer] = []

    def arm(delay_s: float) -> None:
        timer = threading.Timer(delay_s, fire)
        timer.daemon = True
        timers.append(timer)
        timer.start()

    def fire() -> None:
        with lock:
            if state["done"]:
                return
            state["fired"] = True
            _raise_in(target, Overrun)
            arm(REFIRE_S)

    def stop() -> None:
        with lock:
            state["done"] = True
            if state["fired"]:
                _raise_in(target, None)  # an exception set but not yet delivered is withdrawn
            for timer in timers:
                timer.cancel()

    arm(time_limit_s + grace_s(time_limit_s))
    try:
        result = run()
    except BaseException:
        stop()  # before overrun() runs: no exception lands in it
        if not state["fired"]:
            raise
        return overrun()
    finally:
        stop()
    return result
