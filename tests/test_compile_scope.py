"""What a cold first fit compiles: only the code of its own input format.

Runs in a subprocess with an empty Numba cache, so every kernel is really
compiled there (a warm cache would load callers without touching callees).
"""

import json
import os
import subprocess
import sys

CHILD = """
import json, warnings
import numpy as np
import scipy.sparse as sp
from fastmlp import MLPClassifier
from fastmlp.kernels import inputs

warnings.simplefilter("ignore")
rng = np.random.default_rng(0)
X = rng.standard_normal((200, 5))
y = (X[:, 0] > 0).astype(int)
seen = {}
MLPClassifier((8,), batch_size=32, max_iter=2, random_state=0).fit(X, y).predict(X)
MLPClassifier((8,), batch_size=1, max_iter=1, random_state=0).fit(X, y)
seen["dense"] = len(inputs.csr_product.signatures)
MLPClassifier((8,), batch_size=32, max_iter=2, random_state=0).fit(sp.csr_matrix(X), y)
seen["csr"] = len(inputs.csr_product.signatures)
print(json.dumps(seen))
"""


def test_dense_fit_compiles_no_csr_code(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                          text=True, timeout=600, check=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["dense"] == 0  # dense fits (mini-batch and per-sample) and predict
    assert seen["csr"] >= 1  # the check sees compilation: a CSR fit compiles it
