"""Live progress of long work, shown on stderr when asked for.

The epochs of a fit (``progress=True``), the blocks of ``fastmlp.dask.fit_blocks``
and the paths of ``python -m fastmlp compile --progress`` all use one class,
``ProgressBar``, shown on ``sys.stderr`` only (``verbose`` lines go to stdout, as
scikit-learn's do, and stay as they are):

- with tqdm installed, ``tqdm.auto.tqdm``: a widget in a Jupyter notebook (with
  ipywidgets), a text bar in a terminal; on a stream that is not a terminal (a
  log file) it redraws at most once every 10 seconds;
- without tqdm, on a terminal: one line rewritten in place (``\\r``) at most 10
  times a second, ended by a newline on ``close``;
- without tqdm, elsewhere (a log file, a pipe): a complete line at most once
  every 10 seconds, and a final line on ``close``.

A disabled bar does nothing at all and imports nothing. This module imports
nothing from fastmlp: the estimators, ``fastmlp.solvers``, ``fastmlp.dask`` and
``fastmlp.aot`` all use it.
"""

import sys
import time
from contextlib import contextmanager, nullcontext

__all__ = ["ProgressBar"]

TTY_INTERVAL = 0.1
"""Seconds between two redraws of a bar on a terminal (at most 10 a second)."""

LOG_INTERVAL = 10.0
"""Seconds between two lines of a bar written to a stream that is not a terminal."""

_clock = time.monotonic  # the tests replace it

_NOTHING = nullcontext()


def _isatty(stream):
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _duration(seconds):
    """``0:03``, ``12:07``, ``1:02:03``."""
    seconds = int(max(seconds, 0) + 0.5)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def _value(value):
    """A postfix value as shown: floats with 5 significant digits, the rest as str."""
    if isinstance(value, float):
        return f"{value:.5g}"
    return str(value)


class ProgressBar:
    """Progress of ``total`` steps, shown on ``sys.stderr`` while work runs.

    One step is one unit of the work (an epoch, a block); each ``update``
    advances the count and sets the fields shown after it (the loss, a
    validation score). Use it as a context manager: leaving the block closes
    the bar, as finished when the block ended normally, as it stood when it
    raised (an error, Ctrl-C).

    Parameters
    ----------
    total : int or None
        Number of steps the work takes at most (it may end earlier: a fit that
        converges, an interrupt). None when unknown.
    desc : str, default=''
        What is running, shown first (for example the estimator's name).
    unit : str, default='it'
        What one step is ('epoch', 'block', ...).
    enabled : bool, default=True
        False gives a bar that shows nothing, costs one method call per
        ``update`` and does not import tqdm.

    See Also
    --------
    tqdm.auto.tqdm : The bar used when tqdm is installed.

    Notes
    -----
    With tqdm installed the bar is ``tqdm.auto.tqdm``, showing the postfix
    fields after tqdm's own elapsed and remaining time. Without it, a line such
    as ``MLPClassifier epoch 12/200 | loss 0.41233 | val 0.931 | 0:03 elapsed,
    ~0:47 left``. Nothing is ever written to stdout. A bar closed normally
    before ``total`` steps (a fit that stopped early) shows the steps done; in
    a notebook its widget ends complete rather than in the colour of a failure.

    Examples
    --------
    >>> from fastmlp.progress import ProgressBar
    >>> with ProgressBar(3, "demo", "step", enabled=False) as bar:
    ...     for step in range(3):
    ...         bar.update(loss=1.0 / (step + 1))
    """

    def __init__(self, total, desc="", unit="it", enabled=True):
        self.total = total
        self.desc = desc
        self.unit = unit
        self.enabled = bool(enabled)
        self.n = 0
        self._tqdm = None
        self._stream = sys.stderr if self.enabled else None
        self._closed = self._stream is None  # disabled, or no stderr at all (pythonw)
        if self._closed:
            return
        self._tty = _isatty(self._stream)
        self._postfix = {}
        self._start = self._drawn_at = _clock()
        self._last_line = ""
        self._paused = False
        self._pending = 0  # steps done while paused (tqdm)
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            in_notebook = any(c.__module__ == "tqdm.notebook" for c in tqdm.__mro__)
            interval = {} if self._tty or in_notebook else {"mininterval": LOG_INTERVAL}
            self._tqdm = tqdm(total=total, desc=desc or None, unit=unit, file=self._stream,
                              dynamic_ncols=True, **interval)
        elif self._tty:
            self._draw()

    # ------------------------------------------------------------ public
    def update(self, n=1, **postfix):
        """Advance by ``n`` steps and show ``postfix`` (name=value; None: not shown).

        Parameters
        ----------
        n : int, default=1
            Steps just done.
        **postfix : float, int, str or None
            Fields shown after the count, in this order, for example
            ``loss=0.41, val=0.93``; floats are shown with 5 significant digits.
            A field given None is left out (and a field not given keeps its
            last value).
        """
        if self._closed:
            return
        self.n += n
        for name, value in postfix.items():
            if value is None:
                self._postfix.pop(name, None)
            else:
                self._postfix[name] = _value(value)
        if self._tqdm is not None:
            if postfix:
                self._tqdm.set_postfix_str(self._postfix_text(", ", "="), refresh=False)
            if self._paused:  # shown when the pause ends, after what is printed
                self._pending += n
            else:
                self._tqdm.update(n)
            return
        if self._paused:
            return
        now = _clock()
        interval = TTY_INTERVAL if self._tty else LOG_INTERVAL
        if now - self._drawn_at >= interval:
            self._draw(now)

    def close(self, complete=True):
        """End the bar: the final state, then a newline. Calling it again does nothing.

        Parameters
        ----------
        complete : bool, default=True
            Whether the work ended as it should (all steps, or an early normal
            stop such as convergence). False (an error, an interrupt) leaves
            the bar as it stands, which a notebook widget shows as failed.
        """
        if self._closed:
            return
        self._closed = True
        if self._tqdm is not None:
            if self._pending:  # closed while paused
                self._tqdm.update(self._pending)
                self._pending = 0
            if complete and self.total is not None and self._tqdm.n < self.total:
                self._tqdm.total = self._tqdm.n  # an early stop is a finished run
            self._tqdm.close()
            return
        self._draw(_clock(), final=True)

    def paused(self, when=True):
        """Clear the bar while other output goes to the terminal.

        Within the context, the ``verbose`` lines (on stdout) may print: a bar
        drawn on a terminal is cleared first and drawn again after, with the
        steps done meanwhile, so the two do not share a line. A no-op when
        ``when`` is false, the bar is disabled or closed, or it is not on a
        terminal.

        Parameters
        ----------
        when : bool, default=True
            Whether anything will be written (for example the ``verbose`` flag).

        Returns
        -------
        context : context manager
            Enter it around the printing (``with bar.paused(verbose): ...``).
        """
        if not when or self._closed or not self._tty:
            return _NOTHING  # no generator per call: a fit asks once per epoch
        return self._pause()

    @contextmanager
    def _pause(self):
        if self._tqdm is not None:
            self._tqdm.clear()
        elif self._last_line:
            self._write("\r" + " " * len(self._last_line) + "\r")
            self._last_line = ""
        self._paused = True
        try:
            yield
        finally:
            self._paused = False
            sys.stdout.flush()  # what was printed shows before the bar comes back
            if self._closed:
                pass
            elif self._tqdm is not None:
                pending, self._pending = self._pending, 0
                self._tqdm.update(pending)
                self._tqdm.refresh()
            else:
                self._draw()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close(complete=exc_type is None)
        return False

    # ----------------------------------------------------------- private
    def _postfix_text(self, separator, equals):
        return separator.join(f"{name}{equals}{value}" for name, value in self._postfix.items())

    def _line(self, now):
        elapsed = now - self._start
        count = f"{self.unit} {self.n}" + (f"/{self.total}" if self.total is not None else "")
        parts = [f"{self.desc} {count}" if self.desc else count]
        if self._postfix:
            parts.append(self._postfix_text(" | ", " "))
        timing = f"{_duration(elapsed)} elapsed"
        if self.total is not None and 0 < self.n < self.total:
            timing += f", ~{_duration(elapsed / self.n * (self.total - self.n))} left"
        parts.append(timing)
        return " | ".join(parts)

    def _draw(self, now=None, final=False):
        now = _clock() if now is None else now
        self._drawn_at = now
        line = self._line(now)
        if self._tty:
            pad = " " * max(len(self._last_line) - len(line), 0)
            self._write("\r" + line + pad + ("\n" if final else ""))
        else:
            self._write(line + "\n")
        self._last_line = line

    def _write(self, text):
        if self._stream is None:
            return
        try:
            self._stream.write(text)
            self._stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: stop showing
            self._stream = None
