"""Times the references on the same input as sightline-bench: onnxruntime on the ONNX
model built by shared/reference/efficientnet-lite/tools/build_lite0_onnx.py, onnxruntime
on a model Sightline exported (`exported`: the whole classifier, NCHW 0-255 input),
OpenVINO's CPU plugin on that same exported model (`openvino`), and the NumPy reference
forward pass. Prints one JSON line like sightline-bench."""
import argparse
import json
import os
import sys
import time

import numpy as np

ap = argparse.ArgumentParser()
ap.add_argument("engine", choices=["onnxruntime", "exported", "openvino", "numpy"])
ap.add_argument("--model", required=True)
ap.add_argument("--golden", required=True)
ap.add_argument("--weights")
ap.add_argument("--batch", type=int, default=1)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--iterations", type=int, default=20)
ap.add_argument("--size", type=int, default=224)
a = ap.parse_args()

one = np.fromfile(a.golden, dtype="<f4").reshape(1, 224, 224, 3)
if a.size != 224:  # nearest neighbour, as sightline-bench scales it
    idx = np.arange(a.size) * 224 // a.size
    one = np.ascontiguousarray(one[:, idx][:, :, idx])
x = np.repeat(one, a.batch, axis=0)
times = []
if a.engine == "openvino":
    import openvino as ov
    core = ov.Core()
    model = core.read_model(a.model)
    model.reshape([a.batch, 3, a.size, a.size])
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": a.threads, "PERFORMANCE_HINT": "LATENCY",
                                                 "NUM_STREAMS": 1, "INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    x = np.ascontiguousarray((x * 128 + 127).transpose(0, 3, 1, 2))
    for _ in range(2):
        request.infer({0: x})
    for _ in range(a.iterations):
        t = time.perf_counter()
        request.infer({0: x})
        times.append((time.perf_counter() - t) * 1000 / a.batch)
elif a.engine in ("onnxruntime", "exported"):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    output = "features"
    if a.engine == "exported":
        # The exported model takes what users give it: RGB 0-255, NCHW; it normalises itself.
        x = np.ascontiguousarray((x * 128 + 127).transpose(0, 3, 1, 2))
        output = "probabilities"
    for _ in range(2):
        sess.run([output], {name: x})
    for _ in range(a.iterations):
        t = time.perf_counter()
        sess.run([output], {name: x})
        times.append((time.perf_counter() - t) * 1000 / a.batch)
else:
    tools = os.path.join(os.path.dirname(a.golden), "..", "tools")
    sys.path.insert(0, tools)
    import efficientnet_lite_numpy as ref
    net = ref.load_model("lite0", a.weights)
    net.features(x[0])  # the reference takes one HWC image at a time
    for _ in range(a.iterations):
        t = time.perf_counter()
        for i in range(a.batch):
            net.features(x[i])
        times.append((time.perf_counter() - t) * 1000 / a.batch)
print(json.dumps({"mode": a.engine, "batch": a.batch, "threads": a.threads, "size": a.size, "ms_per_image": times}))
