"""Runs frozen TensorFlow graphs in a process of its own: TensorFlow's h5py (through
Keras) cannot load next to the HDF5 that libvips (pyvips) already brought into the test
process. The process stays up and takes one request per line on stdin, a JSON list
[MODEL, INPUTS.npz, OUTPUTS.npz], so TensorFlow loads once per test session; each answer
is one stdout line starting with RESULT (the JSON below, or {"error": traceback}).
Usage: tf_graph_runner.py (one request: tf_graph_runner.py MODEL INPUTS.npz OUTPUTS.npz). INPUTS holds arrays
x0, x1, ... fed to the one Placeholder; OUTPUTS gets y0, y1, ... from the one sink node.
Prints JSON: the Placeholders with their shapes and the sink nodes, found the way
Microsoft's TensorFlow export samples find them. MODEL may instead be a SavedModel
folder (then the serving_default signature is run, and its input shape and output
keys are printed), or a .tflite file (then TensorFlow's TFLite interpreter runs it, as
Microsoft's TFLite sample does: allocate_tensors, the one input, the one output)."""
import json
import os
import sys
import traceback

import numpy as np
import tensorflow as tf


def saved_model(folder, inputs, outputs):
    """A SavedModel folder, used as Microsoft's SavedModel sample does: the serving_default
    signature, its first input's shape, called with the tensor as its one positional argument."""
    serve = tf.saved_model.load(folder).signatures["serving_default"]
    xs = np.load(inputs)
    ys = {}
    for k in range(len(xs.files)):
        out = serve(tf.convert_to_tensor(xs[f"x{k}"]))
        ys[f"y{k}"] = list(out.values())[0].numpy()
    np.savez(outputs, **ys)
    return {"placeholders": {"serving_default": list(serve.inputs[0].shape)}, "sinks": sorted(serve.structured_outputs)}


def tflite(path, inputs, outputs):
    interpreter = tf.lite.Interpreter(model_path=path)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    (out,) = interpreter.get_output_details()
    assert inp["dtype"] == np.float32 and out["dtype"] == np.float32, (inp, out)
    xs = np.load(inputs)
    ys = {}
    for k in range(len(xs.files)):
        interpreter.set_tensor(inp["index"], xs[f"x{k}"])
        interpreter.invoke()
        ys[f"y{k}"] = interpreter.get_tensor(out["index"]).copy()
    np.savez(outputs, **ys)
    return {"placeholders": {inp["name"]: [int(d) for d in inp["shape"]]}, "sinks": [out["name"]]}


def main(model, inputs, outputs):
    if model.endswith(".tflite"):
        return tflite(model, inputs, outputs)
    if os.path.isdir(model):
        return saved_model(model, inputs, outputs)
    graph = tf.compat.v1.GraphDef()
    with open(model, "rb") as f:
        graph.ParseFromString(f.read())
    consumed = {i.split(":")[0].lstrip("^") for n in graph.node for i in n.input}
    placeholders = [n for n in graph.node if n.op == "Placeholder"]
    sinks = [n.name for n in graph.node if n.name not in consumed]
    info = {"placeholders": {n.name: [d.size for d in n.attr["shape"].shape.dim] for n in placeholders}, "sinks": sinks}
    assert len(placeholders) == 1 and len(sinks) == 1, info
    xs = np.load(inputs)
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph, name="")
        with tf.compat.v1.Session(graph=g) as session:
            ys = {f"y{k}": session.run(sinks[0] + ":0", {placeholders[0].name + ":0": xs[f"x{k}"]}) for k in range(len(xs.files))}
    np.savez(outputs, **ys)
    return info


def answer(request):
    try:
        result = main(*request)
    except Exception:  # the test reads the traceback
        result = {"error": traceback.format_exc()}
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    if len(sys.argv) == 4:
        answer(sys.argv[1:4])
    else:
        for line in sys.stdin:
            answer(json.loads(line))
