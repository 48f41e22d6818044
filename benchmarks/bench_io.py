"""W9: model files of the W3 model (784-256-128-10, adam), and ONNX serving.

Save and load time and file size of ``fastmlp.save`` / ``fastmlp.load``
against pickle and skops (targets: the fastmlp file no larger than pickle's,
its load no slower than 2x pickle's); one-row ``predict_proba`` latency of the
model exported to ONNX and run by onnxruntime, next to fastmlp's own
(informational). skops and the ONNX packages come with ``fastmlp[export]``;
their benchmarks are skipped without them.
"""
import os
import shutil
import tempfile

from . import _workloads as wl


def _model(dtype):
    return wl.memo(("W9", dtype), lambda: wl.w9_model(dtype))


class ModelFiles:
    params = (list(wl.FILE_FORMATS), wl.DTYPES)
    param_names = ["format", "dtype"]
    timeout = 180

    def setup(self, fmt, dtype):
        if fmt == "skops" and not wl.skops_available():
            raise NotImplementedError("skops is not installed")
        self.model, _ = _model(dtype)
        self.save, self.load = wl.file_format(fmt, self.model)
        self.folder = tempfile.mkdtemp(prefix="fastmlp-w7-")
        self.path = os.path.join(self.folder, "model")
        self.save(self.path)
        self.load(self.path)  # imports and first-call costs stay out of the timings

    def teardown(self, fmt, dtype):
        if hasattr(self, "folder"):  # setup skipped: nothing to remove
            shutil.rmtree(self.folder, ignore_errors=True)

    def time_save(self, fmt, dtype):
        self.save(self.path)

    def time_load(self, fmt, dtype):
        self.load(self.path)

    def track_file_size(self, fmt, dtype):
        return os.path.getsize(self.path)

    track_file_size.unit = "bytes"


class OnnxLatency:
    params = (["fastmlp", "onnxruntime"], wl.DTYPES)
    param_names = ["runtime", "dtype"]
    timeout = 180

    def setup(self, runtime, dtype):
        if runtime == "onnxruntime" and not wl.onnx_available():
            raise NotImplementedError("skl2onnx / onnxruntime are not installed")
        model, self.one = _model(dtype)
        self.proba = wl.memo(("W9 onnx", runtime, dtype), lambda: (
            wl.onnx_predict_proba(model) if runtime == "onnxruntime" else model.predict_proba))
        self.proba(self.one)

    def track_predict_proba_one_row_best(self, runtime, dtype):
        """timeit-style: best of 7 batches of n calls (n: >= 0.05 s per batch)."""
        number = wl.autorange_number(lambda: self.proba(self.one), 0.05)
        return wl.measure(lambda: self.proba(self.one), 7, number)[0]

    track_predict_proba_one_row_best.unit = "seconds"
