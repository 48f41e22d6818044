"""The one-line notice while kernels compile (``fastmlp.compile_notice``), and
kernels loaded from a warm cache (``backends.kernel_cache``).

- In a fresh process with an empty cache, a first fit -- two of them, in two
  threads -- logs the line exactly once, on stderr without logging configured.
- A second process on the now-warm cache logs nothing, compiles nothing, and
  its kernels (loaded without Numba's context refresh) train the same weights.
- The listener itself, on hand-made events: the delay, nesting, adding up,
  foreign kernels, once only under many threads, silencing through logging.
- The CPU kernels' caches use the loader of ``backends.kernel_cache``.

Two child processes in all (the first compiles a tiny model: several seconds).
"""

import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from types import SimpleNamespace

import pytest
from numba.core.event import Event, EventStatus

import fastmlp
from fastmlp import compile_notice
from fastmlp.compile_notice import MESSAGE, CompileNotice

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(fastmlp.__file__)))

CHILD = textwrap.dedent("""
    import json, sys, threading, warnings
    import numpy as np
    import fastmlp.compile_notice
    from fastmlp import MLPRegressor

    warnings.simplefilter("ignore")
    fastmlp.compile_notice.DELAY = float(sys.argv[1])
    X = np.random.default_rng(0).standard_normal((30, 3))
    y = X[:, 0] - X[:, 1]
    models = [MLPRegressor(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
              for _ in range(2)]
    threads = [threading.Thread(target=m.fit, args=(X, y)) for m in models]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    from fastmlp.aot import cache_use
    hits, misses = cache_use()
    print(json.dumps(dict(hits=hits, misses=misses,
                          weights=[m.coefs_[0].tolist() for m in models])))
""")


def run_child(cache, delay):
    """(stderr, report) of CHILD with its own Numba cache folder."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache),
               PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", CHILD, str(delay)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stderr, json.loads(done.stdout.strip().splitlines()[-1])


def test_first_compile_logs_once_and_warm_cache_logs_nothing(tmp_path):
    # A delay well under the cold compile (seconds) but above thread start-up.
    err, cold = run_child(tmp_path, 0.2)
    assert err.count(MESSAGE) == 1, err
    assert err.strip() == MESSAGE  # one line, and nothing else
    assert "python -m fastmlp compile" in MESSAGE
    assert cold["misses"] > 0

    # Warm cache: even with no delay at all, loading says nothing.
    err, warm = run_child(tmp_path, 0.0)
    assert err == ""
    assert warm["misses"] == 0 and warm["hits"] > 0
    assert warm["weights"] == cold["weights"]
    assert warm["weights"][0] == warm["weights"][1]


# ==================================================== the listener, in process
def compile_event(status, module="fastmlp.kernels.training"):
    dispatcher = SimpleNamespace(py_func=SimpleNamespace(__module__=module))
    return Event("numba:compile", status, data=dict(dispatcher=dispatcher))


START, END = EventStatus.START, EventStatus.END


@pytest.fixture
def notice(monkeypatch, caplog):
    monkeypatch.setattr(compile_notice, "DELAY", 0.05)
    caplog.set_level(logging.WARNING, logger="fastmlp")
    listener = CompileNotice()
    yield listener
    listener.switch_off()


def messages(caplog):
    return [r.getMessage() for r in caplog.records if r.name == "fastmlp"]


def test_logs_once_when_compiling_outlasts_the_delay(notice, caplog):
    notice.notify(compile_event(START))
    notice.notify(compile_event(START))  # a nested compilation
    time.sleep(0.3)
    notice.notify(compile_event(END))
    notice.notify(compile_event(END))
    assert messages(caplog) == [MESSAGE]
    assert caplog.records[0].levelno == logging.WARNING
    notice.notify(compile_event(START))
    time.sleep(0.2)
    notice.notify(compile_event(END))
    assert messages(caplog) == [MESSAGE]


def test_quick_compilations_log_nothing_until_they_add_up(notice, caplog, monkeypatch):
    monkeypatch.setattr(compile_notice, "DELAY", 0.25)
    for _ in range(2):
        notice.notify(compile_event(START))
        time.sleep(0.1)
        notice.notify(compile_event(END))
    time.sleep(0.3)
    assert messages(caplog) == []
    notice.notify(compile_event(START))  # 0.2 s spent: 0.05 s left
    time.sleep(0.3)
    notice.notify(compile_event(END))
    assert messages(caplog) == [MESSAGE]


def test_other_code_compiling_is_ignored(notice, caplog):
    notice.notify(compile_event(START, module="user_code"))
    time.sleep(0.2)
    notice.notify(compile_event(END, module="user_code"))
    notice.notify(Event("numba:compile", START, data=None))
    time.sleep(0.2)
    assert messages(caplog) == []


def test_once_under_many_threads(notice, caplog):
    def compile_some():
        for _ in range(20):
            notice.notify(compile_event(START))
            time.sleep(0.01)
            notice.notify(compile_event(END))

    threads = [threading.Thread(target=compile_some) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(0.1)
    assert messages(caplog) == [MESSAGE]


def test_silenced_through_logging(notice, caplog):
    logger = logging.getLogger("fastmlp")
    before = logger.level
    logger.setLevel(logging.ERROR)
    try:
        notice.notify(compile_event(START))
        time.sleep(0.2)
        notice.notify(compile_event(END))
    finally:
        logger.setLevel(before)
    assert messages(caplog) == []


def test_switched_off_logs_nothing(notice, caplog):
    notice.notify(compile_event(START))
    notice.switch_off()
    time.sleep(0.2)
    notice.notify(compile_event(END))
    assert messages(caplog) == []


# ========================================================= cached kernel loads
def test_cpu_kernels_load_without_the_context_refresh():
    from numba.core.caching import Cache
    from numba.core.dispatcher import Dispatcher

    import fastmlp.backends.cpu  # noqa: F401  (installs the loader)
    from fastmlp.backends import kernel_cache
    from fastmlp.kernels import prediction, training

    for kernel in (training.run_epoch, prediction.predict):
        assert isinstance(kernel, Dispatcher) and isinstance(kernel._cache, Cache)
        loader = vars(kernel._cache)["load_overload"]
        assert loader.__func__ is kernel_cache._load_overload
