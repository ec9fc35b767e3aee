"""TensorFlow for the export checks: tf_graph_runner.py in a process of its own (TensorFlow's
h5py cannot load next to the HDF5 that pyvips brought into the test process), started once
for the session and fed one model at a time, so TensorFlow loads once."""
import atexit
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np


class TensorFlowProcess:
    """tf_graph_runner.py, started once for the session and fed one model at a time, so
    TensorFlow loads once. TensorFlow's own oneDNN rewrites are off: their results depend
    on the CPU's instruction set."""
    proc = None
    log = None
    lines = None

    @classmethod
    def ask(cls, request, timeout=600):
        if cls.proc is None or cls.proc.poll() is not None:
            runner = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tf_graph_runner.py")
            cls.log = tempfile.TemporaryFile()
            env = dict(os.environ, TF_ENABLE_ONEDNN_OPTS="0", TF_CPP_MIN_LOG_LEVEL="2")
            cls.proc = subprocess.Popen([sys.executable, runner], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=cls.log, text=True, env=env)
            atexit.register(cls.proc.kill)
            # Lines arrive through a reader thread, so a deadline holds however stdout is buffered.
            cls.lines = queue.Queue()
            threading.Thread(target=lambda out, q: [q.put(line) for line in out] + [q.put(None)],
                             args=(cls.proc.stdout, cls.lines), daemon=True).start()
        cls.proc.stdin.write(json.dumps(request) + "\n")
        cls.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = cls.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                cls.proc.kill()
                raise AssertionError(f"TensorFlow gave no answer in {timeout} s")
            if line is None:
                cls.log.seek(0)
                raise AssertionError("the TensorFlow process ended: " + cls.log.read().decode(errors="replace")[-3000:])
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])


def run_tensorflow(model_path, inputs):
    """The outputs of a frozen graph (or SavedModel, or TFLite file) for each input, and what
    the graph's in- and outputs are (tf_graph_runner.py, in a process of its own)."""
    work = tempfile.mkdtemp(prefix="sightline-tf-")
    np.savez(os.path.join(work, "x.npz"), **{f"x{k}": x for k, x in enumerate(inputs)})
    info = TensorFlowProcess.ask([model_path, os.path.join(work, "x.npz"), os.path.join(work, "y.npz")])
    assert "error" not in info, info["error"][-3000:]
    ys = np.load(os.path.join(work, "y.npz"))
    outputs = [ys[f"y{k}"] for k in range(len(inputs))]
    shutil.rmtree(work, ignore_errors=True)
    return outputs, info
