"""Live progress (``progress=True``, ``fastmlp.progress``): shown on stderr only,
with tqdm when it is installed and without it (one line rewritten in place on a
terminal, a line every 10 seconds elsewhere); the fitted model, the ``verbose``
lines on stdout and the warnings are the same with progress on and off."""

import builtins
import io
import re
import sys
import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

import fastmlp.progress as progress_module
from fastmlp import MLPClassifier, MLPRegressor
from fastmlp.progress import LOG_INTERVAL, ProgressBar

from estimator_helpers import EST_IDS, ESTIMATORS, flat, interrupt_third_epoch, quiet
from optional import optional


class TTY(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self):
        return True


class FakeClock:
    """``progress._clock`` advancing ``step`` seconds at every reading."""

    def __init__(self, step):
        self.now, self.step = 1000.0, step

    def __call__(self):
        self.now += self.step
        return self.now


@pytest.fixture
def no_tqdm(monkeypatch):
    """tqdm cannot be imported (as where it is not installed)."""
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


@pytest.fixture(params=["tqdm", "no-tqdm"])
def renderer(request, monkeypatch):
    """Each test twice: with tqdm (skipped where it is missing) and without."""
    if request.param == "tqdm":
        optional("tqdm")
    else:
        monkeypatch.setitem(sys.modules, "tqdm", None)
        monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    return request.param


class SysWithStderr:
    """``sys`` as ``fastmlp.progress`` sees it, with another stderr."""

    def __init__(self, stderr):
        self.stderr = stderr

    def __getattr__(self, name):
        return getattr(sys, name)


@pytest.fixture
def tty(monkeypatch):
    """fastmlp.progress's stderr is a terminal (a TTY StringIO, returned). (pytest
    sets sys.stderr itself when a test starts, after the fixtures.)"""
    stream = TTY()
    monkeypatch.setattr(progress_module, "sys", SysWithStderr(stream))
    return stream


@pytest.fixture
def bars(monkeypatch):
    """Every ProgressBar created meanwhile, in order."""
    created = []
    original = ProgressBar.__init__

    def recording(self, *args, **kwargs):
        original(self, *args, **kwargs)
        created.append(self)

    monkeypatch.setattr(ProgressBar, "__init__", recording)
    return created


@pytest.fixture
def warned(monkeypatch, bars):
    """(message, whether every bar was closed by then) of each warning a fit
    issues through ``warn_caller``."""
    from fastmlp.estimators import _base

    issued = []
    original = _base.warn_caller

    def recording(message, *args, **kwargs):
        issued.append((message, all(bar._closed for bar in bars)))
        return original(message, *args, **kwargs)

    monkeypatch.setattr(_base, "warn_caller", recording)
    return issued


def data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 5))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int)


def fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


# ------------------------------------------------------------- the class
def test_disabled_bar_writes_nothing_and_imports_nothing(monkeypatch, capsys):
    imported = []
    original = builtins.__import__

    def recording(name, *args, **kwargs):
        imported.append(name)
        return original(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", recording)
    with ProgressBar(10, "x", "step", enabled=False) as bar:
        for _ in range(10):
            bar.update(loss=1.0)
        with bar.paused():
            pass
    monkeypatch.setattr(builtins, "__import__", original)
    assert not [name for name in imported if name.startswith("tqdm")]
    assert capsys.readouterr() == ("", "")
    assert bar.n == 0


def test_fallback_on_a_terminal_rewrites_one_line(no_tqdm, tty, monkeypatch):
    monkeypatch.setattr(progress_module, "_clock", FakeClock(0.5))
    with ProgressBar(200, "MLPClassifier", "epoch") as bar:
        for epoch in range(12):
            bar.update(loss=0.41233 + epoch, val=0.931)
    text = tty.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1  # one line, ended on close
    lines = text.rstrip("\n").split("\r")
    final = lines[-1]
    assert final.startswith("MLPClassifier epoch 12/200 | loss 11.412 | val 0.931 | ")
    assert "elapsed" in final and "left" in final
    assert lines[1].startswith("MLPClassifier epoch 0/200 | 0:01 elapsed")  # drawn at once
    # 7 s for 12 epochs (the clock reads 0.5 s later each time): 188 epochs to go
    assert final.rstrip() == ("MLPClassifier epoch 12/200 | loss 11.412 | val 0.931 | "
                              "0:07 elapsed, ~1:50 left")


def test_fallback_on_a_terminal_redraws_at_most_ten_times_a_second(no_tqdm, tty,
                                                                    monkeypatch):
    monkeypatch.setattr(progress_module, "_clock", FakeClock(0.01))
    with ProgressBar(1000, "", "step") as bar:
        for _ in range(1000):  # 10 s of steps of 10 ms
            bar.update()
    draws = tty.getvalue().count("\r")
    assert 90 <= draws <= 103  # the first line, ~100 redraws, the final one
    assert tty.getvalue().rstrip("\n").split("\r")[-1].startswith("step 1000/1000 | ")


def test_fallback_in_a_log_writes_a_line_every_ten_seconds(no_tqdm, monkeypatch):
    log = io.StringIO()  # not a terminal
    monkeypatch.setattr(sys, "stderr", log)
    monkeypatch.setattr(progress_module, "_clock", FakeClock(1.0))
    with ProgressBar(100, "fit_blocks", "block") as bar:
        for _ in range(100):
            bar.update(loss=0.5)
    text = log.getvalue()
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    # the clock reads once at the start and once per step: a line every 10 steps
    assert len(lines) == 100 // int(LOG_INTERVAL) + 1
    assert lines[0] == "fit_blocks block 10/100 | loss 0.5 | 0:10 elapsed, ~1:30 left"
    assert lines[1].startswith("fit_blocks block 20/100 | loss 0.5 | 0:20 elapsed")
    assert lines[-1] == "fit_blocks block 100/100 | loss 0.5 | 1:41 elapsed"


def test_a_short_job_in_a_log_writes_only_its_final_line(no_tqdm, monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    with ProgressBar(5, "", "epoch") as bar:
        for _ in range(5):
            bar.update(loss=0.25)
    assert log.getvalue().count("\n") == 1
    assert log.getvalue().startswith("epoch 5/5 | loss 0.25 | 0:00 elapsed")


def test_a_field_given_none_is_left_out(no_tqdm, monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    with ProgressBar(None, "", "it") as bar:
        bar.update(loss=1.0, val=0.5)
        bar.update(val=None)
    assert log.getvalue().startswith("it 2 | loss 1 | 0:00 elapsed\n")


def test_close_twice_and_a_closed_stream(no_tqdm, monkeypatch):
    stream = TTY()
    monkeypatch.setattr(sys, "stderr", stream)
    bar = ProgressBar(3, "", "it")
    stream.close()  # writing fails: the bar stops showing, the work goes on
    bar.update()
    bar.close()
    bar.close()
    bar.update()
    assert bar.n == 1


def test_paused_clears_the_line_and_shows_the_steps_after(renderer, tty, monkeypatch):
    """Output printed while paused (the verbose lines) starts on a cleared line;
    the steps done meanwhile show after it, on a fresh bar."""
    with ProgressBar(3, "", "it") as bar:
        with bar.paused():
            cleared = tty.getvalue()
            bar.update(loss=1.0)
            assert tty.getvalue() == cleared  # nothing drawn while paused
        assert cleared.endswith("\r") and cleared.rstrip("\r").split("\r")[-1].strip() == ""
        after = tty.getvalue()[len(cleared):]
        assert (("1/3" in after and "loss=1" in after) if renderer == "tqdm"
                else after.startswith("\rit 1/3 | loss 1 | "))
        with bar.paused(when=False):  # nothing printed: nothing cleared
            pass
        assert tty.getvalue().endswith(after)


def test_tqdm_bar_on_stderr(tty):
    optional("tqdm")
    with ProgressBar(20, "MLPRegressor", "epoch") as bar:
        for _ in range(20):
            bar.update(loss=0.123456, val=0.5)
    text = tty.getvalue()
    assert "MLPRegressor" in text and "20/20" in text and "epoch" in text
    assert "loss=0.12346, val=0.5" in text
    assert text.endswith("\n")


def test_tqdm_bar_stopped_early_ends_complete_unless_interrupted(tty):
    optional("tqdm")
    with ProgressBar(20, "", "epoch") as bar:
        bar.update(5)
    assert bar._tqdm.total == 5  # a notebook shows a finished run, not a failure
    with pytest.raises(KeyboardInterrupt), ProgressBar(20, "", "epoch") as bar:
        bar.update(5)
        raise KeyboardInterrupt
    assert bar._tqdm.total == 20 and bar._tqdm.disable  # closed as it stood


# ------------------------------------------------------------ estimators
@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_progress_goes_to_stderr_only(Est, solver, renderer, tty, capsys):
    X, y = data()
    est = fit(Est(**quiet(solver=solver, progress=True, max_iter=15)), X, y)
    assert capsys.readouterr().out == ""
    text = tty.getvalue()
    unit = "epoch" if solver != "lbfgs" else "iteration"
    assert Est.__name__ in text and unit in text and text.endswith("\n")
    assert f"{est.n_iter_}/15" in text
    assert ("loss=" if renderer == "tqdm" else "| loss ") in text
    if renderer == "no-tqdm":
        assert "elapsed" in text


def test_validation_score_is_shown(renderer, tty):
    X, y = data()
    est = fit(MLPClassifier(**quiet(early_stopping=True, progress=True, max_iter=50,
                                    n_iter_no_change=3)), X, y)
    last = tty.getvalue().rstrip("\n").split("\r")[-1]
    shown = f"{est.validation_scores_[-1]:.5g}"
    assert (f"val={shown}" if renderer == "tqdm" else f"| val {shown} |") in last
    assert f"{est.n_iter_}/" in last


@pytest.mark.parametrize("params", [
    dict(solver="sgd"), dict(solver="adam"), dict(solver="lbfgs"),
    dict(solver="adam", early_stopping=True, n_iter_no_change=2),
    dict(solver="sgd", X_val=True, learning_rate="adaptive", n_iter_no_change=2),
], ids=["sgd", "adam", "lbfgs", "early_stopping", "sgd-validation-adaptive"])
def test_verbose_lines_and_weights_do_not_change(params, renderer, tty, capsys):
    """verbose=True prints exactly the lines of progress=False (the bar, on a
    terminal, is cleared while they print), and the weights are bitwise the same."""
    X, y = data()
    params = dict(params)
    fit_params = {"X_val": X[:30], "y_val": y[:30]} if params.pop("X_val", False) else {}
    results = []
    for progress in (False, True):
        est = fit(MLPClassifier(**quiet(verbose=True, max_iter=30, progress=progress,
                                        **params)), X, y, **fit_params)
        results.append((capsys.readouterr().out, flat(est), est.n_iter_,
                        list(getattr(est, "loss_curve_", []) or [])))
    (out_off, w_off, n_off, curve_off), (out_on, w_on, n_on, curve_on) = results
    assert out_off and out_on == out_off
    assert n_on == n_off and curve_on == curve_off
    np.testing.assert_array_equal(w_on, w_off)
    assert tty.getvalue()  # the bar was shown


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("params", [
    dict(solver="sgd"), dict(solver="adam"), dict(solver="lbfgs"),
    dict(solver="adam", early_stopping=True, n_iter_no_change=2),
], ids=["sgd", "adam", "lbfgs", "early_stopping"])
def test_weights_are_bitwise_equal(Est, params, renderer, tty):
    X, y = data()
    y = y if Est is MLPClassifier else X[:, 0] - X[:, 1]
    off = fit(Est(**quiet(max_iter=25, **params)), X, y)
    on = fit(Est(**quiet(max_iter=25, progress=True, **params)), X, y)
    np.testing.assert_array_equal(flat(on), flat(off))
    assert on.n_iter_ == off.n_iter_ and on.loss_ == off.loss_


def test_bar_closes_on_early_stopping(renderer, tty, bars):
    X, y = data()
    est = fit(MLPClassifier(**quiet(early_stopping=True, n_iter_no_change=2, max_iter=200,
                                    progress=True)), X, y)
    assert est.n_iter_ < 200
    (bar,) = bars
    assert bar._closed and bar.n == est.n_iter_ and bar.total == 200
    assert tty.getvalue().endswith("\n")
    if renderer == "no-tqdm":
        assert f"epoch {est.n_iter_}/200" in tty.getvalue().split("\r")[-1]


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_bar_closes_on_keyboard_interrupt(solver, renderer, tty, bars, warned,
                                          monkeypatch):
    """Ctrl-C ends training with the epochs done (and a warning, after the bar
    is closed, so it starts on a line of its own)."""
    X, y = data()
    interrupt_third_epoch(monkeypatch)
    with pytest.warns(UserWarning, match="Training interrupted by user"):
        est = MLPClassifier(**quiet(solver=solver, progress=True)).fit(X, y)
    (bar,) = bars
    assert warned == [("Training interrupted by user.", True)]  # closed by then
    assert est.n_iter_ == 2 and bar.n == 2
    assert tty.getvalue().endswith("\n")
    if renderer == "tqdm":
        assert bar._tqdm.total == 20  # left as it stood: a notebook shows it stopped


def test_bar_closes_when_lbfgs_is_interrupted(renderer, tty, bars, monkeypatch):
    from fastmlp.backends import cpu

    X, y = data()
    original = cpu.Trainer.loss_grad
    calls = []

    def interrupted(self, params):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return original(self, params)

    monkeypatch.setattr(cpu.Trainer, "loss_grad", interrupted)
    with pytest.raises(KeyboardInterrupt):
        MLPClassifier(**quiet(solver="lbfgs", progress=True)).fit(X, y)
    (bar,) = bars
    assert bar._closed and bar.n > 0 and tty.getvalue().endswith("\n")


def test_warnings_come_after_the_bar(renderer, tty, warned):
    """The bar has ended (with its newline) when a fit warns, so the warning,
    on stderr too, starts on a line of its own."""
    X, y = data()
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        MLPClassifier(**quiet(solver="sgd", max_iter=3, progress=True)).fit(X, y)
    assert [(message.split(":")[0], closed) for message, closed in warned] == [
        ("Stochastic Optimizer", True)]
    X_big = np.vstack([X, [[1e300] * 5]])  # diverges: with early stopping, a warning
    with pytest.warns(ConvergenceWarning, match="Training diverged"):
        MLPClassifier(**quiet(solver="sgd", early_stopping=True, progress=True,
                              learning_rate_init=10.0)).fit(X_big, np.append(y, 1))
    assert warned[-1][0].startswith("Training diverged") and warned[-1][1]
    assert tty.getvalue().endswith("\n")


def test_partial_fit_and_disabled_show_nothing(renderer, tty, capsys):
    X, y = data()
    est = MLPClassifier(**quiet(progress=True))
    for _ in range(3):
        est.partial_fit(X, y, classes=[0, 1])
    fit(MLPClassifier(**quiet()), X, y)
    assert tty.getvalue() == "" and capsys.readouterr().out == ""


def test_warm_start_fits_show_progress_each(no_tqdm, tty):
    X, y = data()
    est = MLPClassifier(**quiet(progress=True, warm_start=True, max_iter=4))
    fit(est, X, y)
    fit(est, X, y)
    assert tty.getvalue().count("\n") == 2


@pytest.mark.parametrize("Est", ESTIMATORS, ids=EST_IDS)
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_invalid_progress(Est, value):
    X, y = data()
    with pytest.raises(InvalidParameterError, match="'progress' parameter"):
        Est(progress=value).fit(X, y)


def test_progress_is_a_parameter_like_the_others():
    from sklearn.base import clone

    est = MLPRegressor(progress=True)
    assert est.get_params()["progress"] is True
    assert clone(est).progress is True
    assert MLPClassifier().set_params(progress=True).progress is True
    assert "progress : bool, default=False" in MLPClassifier.__doc__
    assert "progress : bool, default=False" in MLPRegressor.__doc__


def test_model_files_keep_progress_and_older_files_load(tmp_path):
    from fastmlp._state import export_state, import_state

    X, y = data()
    est = fit(MLPClassifier(**quiet(max_iter=3, progress=True)), X, y)
    meta, arrays = export_state(est)
    assert import_state(meta, arrays).progress is True
    del meta["params"]["progress"]  # a file written before the parameter existed
    loaded = import_state(meta, arrays)
    assert loaded.progress is False
    np.testing.assert_array_equal(flat(loaded), flat(est))


# ------------------------------------------------------ fit_blocks and CLI
def test_fit_blocks_shows_one_step_per_block(renderer, tty, capsys):
    optional("dask")
    import dask
    import dask.array as da

    from fastmlp.dask import fit_blocks

    X = da.random.RandomState(0).normal(size=(400, 4), chunks=(100, 4))
    y = (X[:, 0] > 0).astype("int64")
    with dask.config.set(scheduler="sync"):
        shown = fit_blocks(MLPClassifier(hidden_layer_sizes=(5,), random_state=0), X, y,
                           epochs=3, classes=[0, 1], random_state=0, progress=True)
        plain = fit_blocks(MLPClassifier(hidden_layer_sizes=(5,), random_state=0), X, y,
                           epochs=3, classes=[0, 1], random_state=0)
    np.testing.assert_array_equal(flat(shown), flat(plain))
    assert capsys.readouterr().out == ""
    last = tty.getvalue().rstrip("\n").split("\r")[-1]
    assert "fit_blocks" in last and "12/12" in last and "block" in last
    assert ("epoch=3/3" if renderer == "tqdm" else "| epoch 3/3 | loss ") in last
    with pytest.raises(ValueError, match="progress must be True or False"):
        fit_blocks(MLPClassifier(), X, y, classes=[0, 1], progress="yes")


def test_compile_command_shows_progress(renderer, capsys):
    from fastmlp.__main__ import main
    from fastmlp.aot import _paths

    assert main(["compile", "--dtype", "float64"]) == 0
    plain = capsys.readouterr()
    assert main(["compile", "--dtype", "float64", "--progress"]) == 0
    shown = capsys.readouterr()
    assert plain.err == ""
    n = len(_paths(sparse=False))
    last = shown.err.rstrip("\n").split("\r")[-1]
    assert "compiling" in last and f"{n}/{n}" in last and "path" in last
    assert "float64" in last and "compiled" in last and "loaded" in last
    # stdout: the same lines (their seconds aside)
    def without_seconds(out):
        return re.sub(r"\d+\.\d s", "_ s", out)

    assert without_seconds(shown.out) == without_seconds(plain.out)
    assert "fastmlp kernels for float64: _ s" in without_seconds(shown.out)
