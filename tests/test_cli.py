"""``python -m fastmlp``: the demo and the ahead-of-time ``compile`` command."""

import json
import os
import subprocess
import sys

import pytest
from threadpoolctl import threadpool_info

import fastmlp
from fastmlp.__main__ import main, parser


def test_cuda_without_gpu_is_one_line_and_status_2():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["CUDA_VISIBLE_DEVICES"] = ""  # no GPU, even on a machine that has one
    done = subprocess.run([sys.executable, "-m", "fastmlp", "--device", "cuda"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--device cuda" in lines[0] and "GPU" in lines[0]


def test_every_option_has_help():
    p = parser()
    commands = [a for a in p._actions if a.dest == "command"][0].choices
    for each in [p, *commands.values()]:
        for action in each._actions:
            if action.dest != "command":
                assert action.help, f"{action.option_strings or action.dest} has no help"


def test_demo_states_blas_and_conditions(capsys):
    before = [lib["num_threads"] for lib in threadpool_info()]
    assert main(["--max-iter", "3", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert "BLAS: " in out and " threads)" in out
    assert "best of 1 fit(s) with BLAS at" in out
    assert "training with scikit-learn ... best" in out
    assert "training with fastmlp ... best" in out
    assert "speed-up:" in out
    assert [lib["num_threads"] for lib in threadpool_info()] == before


def test_bad_repeat_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--repeat", "0"])
    assert exit_.value.code == 2
    assert "--repeat must be at least 1" in capsys.readouterr().err


def test_compile_command(capsys):
    assert main(["compile", "--dtype", "float64"]) == 0
    out = capsys.readouterr().out
    assert "compiling fastmlp kernels for float64" in out
    assert "fastmlp kernels for float64:" in out and "done in" in out


def test_compile_kernels_rejects_unknown_dtypes():
    with pytest.raises(ValueError, match="dtypes must hold 'float32' and/or 'float64'"):
        fastmlp.compile_kernels(dtypes=["float16"])


def test_public_api():
    assert sorted(fastmlp.__all__) == ["MLPClassifier", "MLPRegressor", "TrainingCurveDisplay",
                                       "__version__", "compile_kernels", "load", "save"]
    for name in fastmlp.__all__:
        assert hasattr(fastmlp, name)


LOAD_ALL = """
import json
import fastmlp
from fastmlp.aot import cache_use

fastmlp.compile_kernels(dtypes=["float64"])
hits, misses = cache_use()
print(json.dumps(dict(hits=hits, misses=misses)))
"""


def test_compiled_paths_load_in_a_fresh_process():
    """Every common path's kernels, compiled by ``compile_kernels``, load in a new
    process (through ``backends.kernel_cache``'s loader) and run: nothing is
    compiled again."""
    assert main(["compile", "--dtype", "float64"]) == 0  # fills the cache if needed
    done = subprocess.run([sys.executable, "-c", LOAD_ALL], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["misses"] == 0 and seen["hits"] > 0, seen
