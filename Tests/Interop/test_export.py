"""Exports checked by outside tools: a multiclass (Regular training) and a multilabel
(Advanced training: fine-tuned last stage) iteration are trained and published with
Microsoft's SDK, exported to every platform and flavor built here, and
then
- onnx.checker passes and onnxruntime loads the three flavors (OnnxFloat16 within 5e-3); for 20 real images (Fashion-MNIST
  test images, re-encoded at assorted sizes and aspect ratios) the exported model's
  probabilities equal classify_image's from the running server within 1e-4;
- the Docker bundle's service, started with its Dockerfile's own command on loopback,
  answers POST /image (raw and multipart) and POST /url with the same predictions;
- the ARM bundle is the Linux one built for linux/arm64;
- OpenVINO's runtime reads and compiles the OpenVino export (IR: model.xml, model.bin) and,
  fed the same prepared images as 0-1 RGB, gives the server's probabilities within 1e-4;
- the TensorFlowLite flavor's model.tflite passes the TFLite interpreter's allocate_tensors,
  has one float32 input [1, 224, 224, 3] and, fed NHWC BGR 0-255, gives the server's
  probabilities within 1e-4;
- coremltools loads the CoreML export's spec, which describes an RGB image input of
  224 x 224 and the classifier's outputs (loss, classLabel); an independent NumPy
  interpreter of its layers (coreml_interpreter.py) gives the server's probabilities
  within 1e-4 (and, PIL-prepared, within 0.02 as below);
- prepared as Microsoft's export samples prepare images (PIL: the whole image resized to the
  input, channel order and range as the platform's contract says), the ONNX, OpenVINO and
  TFLite models give the server's top tag on every image and its probabilities within 0.02;
- the TensorFlow export's frozen graph imports with tf.import_graph_def, has one
  Placeholder [1, 224, 224, 3] and one sink, and fed the same images as NHWC BGR 0-255 gives
  the server's probabilities within 1e-4; the SavedModel flavor's serving_default
  signature, called as Microsoft's SavedModel sample calls it, does too.
"""
import html
import importlib.util
import io
import itertools
import os
import re
import time
import uuid
import zipfile

import coremltools
import numpy as np
import onnx
import onnxruntime as ort
import openvino
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry
from msrest.authentication import ApiKeyCredentials
from PIL import Image

import coreml_interpreter
from tensorflow_process import run_tensorflow
from conftest import admin_api, make_account
from export_support import TOLERANCE, check_arm_bundle, check_bundle, compare, unpack
from test_quickstart_classification import fashion_mnist

COMPACT = "0732100f-1a38-4e49-a514-c9b44c697ab5"
PLAIN_TOLERANCE = 0.02  # Microsoft's samples resize with PIL, not libvips
# OpenVINO's CPU plugin as users get it: bf16 on CPUs with native bf16 (f32 elsewhere).
# Probabilities within this, and the same top tag where the server's top two are further
# apart than twice this.
OPENVINO_DEFAULT_TOLERANCE = 0.02
PLAIN_WORST = {}  # platform -> largest |PIL-prepared - server| difference, for the report
CLASSES = {0: "T-shirt", 1: "Trouser", 7: "Sneaker"}


def fashion(split, label, count):
    """Images of one class, each re-encoded at its own size and aspect ratio, JPEG or PNG,
    so the crop and resize paths are exercised as with photos."""
    out = []
    for n, img in enumerate(itertools.islice(fashion_mnist(split, label), count)):
        k = n + 3 * label
        size = (160 + (k * 37) % 200, 150 + (k * 53) % 210)
        buf = io.BytesIO()
        img.resize(size, Image.BICUBIC).convert("RGB").save(buf, "JPEG" if k % 2 else "PNG", quality=90)
        out.append(buf.getvalue())
    return out


def train_and_publish(trainer, classification_type, resource_id, training_type="Regular"):
    project = trainer.create_project(f"export-{classification_type}-{uuid.uuid4().hex[:6]}", domain_id=COMPACT,
                                     classification_type=classification_type)
    entries = []
    for label, name in CLASSES.items():
        tag = trainer.create_tag(project.id, name)
        entries += [ImageFileCreateEntry(name=f"{name}-{n}.img", contents=d, tag_ids=[tag.id])
                    for n, d in enumerate(fashion("train", label, 8))]
    assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    iteration = trainer.train_project(project.id, training_type=training_type,
                                      reserved_budget_in_hours=1 if training_type == "Advanced" else 0)
    assert iteration.training_type == training_type
    deadline = time.time() + 300
    while iteration.status == "Training":
        assert time.time() < deadline
        time.sleep(0.5)
        iteration = trainer.get_iteration(project.id, iteration.id)
    assert iteration.status == "Completed", iteration.training_error_details
    assert iteration.exportable and set(iteration.exportable_to) == {"CoreML", "ONNX", "DockerFile", "OpenVino", "TensorFlow"}
    assert trainer.publish_iteration(project.id, iteration.id, "exported", resource_id)
    return project, iteration


def recipe(server, account_id, project_id, iteration_id, email="export@example.com"):
    """What the Performance tab says made the iteration's model (signed in as its owner)."""
    s = requests.Session()
    page = s.get(server.url + "/signin", timeout=30).text
    token = re.search(r'name="_csrf" value="([^"]+)"', page).group(1)
    assert s.post(server.url + "/signin", data={"email": email, "password": "password-123", "_csrf": token}, timeout=30).ok
    perf = s.get(f"{server.url}/accounts/{account_id}/projects/{project_id}/performance?iteration={iteration_id}", timeout=30).text
    found = re.search(r'<p id="training-recipe">(.*?)</p>', perf, re.S)
    return html.unescape(found.group(1)) if found else ""


def export_all(trainer, project, iteration, server):
    """Requests the three exports; the second request for one returns the same export."""
    targets = [("ONNX", "ONNX10"), ("ONNX", "ONNX12"), ("ONNX", "OnnxFloat16"), ("DockerFile", "Linux"), ("DockerFile", "ARM"), ("OpenVino", None), ("TensorFlow", "TensorFlowNormal"),
               ("TensorFlow", "TensorFlowSavedModel"), ("TensorFlow", "TensorFlowLite"), ("CoreML", None)]
    for platform, flavor in targets:
        first = trainer.export_iteration(project.id, iteration.id, platform, flavor=flavor)
        assert first.status == "Exporting" and first.download_uri is None
        again = trainer.export_iteration(project.id, iteration.id, platform, flavor=flavor)
        assert (again.platform, again.flavor) == (platform, flavor) and again.status in ("Exporting", "Done")
    deadline = time.time() + 300
    while True:
        exports = trainer.get_exports(project.id, iteration.id)
        assert len(exports) == len(targets), [(e.platform, e.flavor) for e in exports]
        if all(e.status != "Exporting" for e in exports):
            break
        assert time.time() < deadline
        time.sleep(0.5)
    zips = {}
    for e in exports:
        assert e.status == "Done" and e.download_uri.startswith(server.url + "/blobs/"), (e.status, e.download_uri)
        r = requests.get(e.download_uri, timeout=60)
        assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
        zips[e.flavor or e.platform] = zipfile.ZipFile(io.BytesIO(r.content))
    return zips


def load_preprocess(folder):
    spec = importlib.util.spec_from_file_location(f"preprocess_{uuid.uuid4().hex}", os.path.join(folder, "preprocess.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def plain_input(data, size, bgr=False):
    """An image as Microsoft's export samples prepare it: PIL, the whole image resized to
    size x size (PIL's default bicubic), float32 0-255, NHWC (RGB, or BGR when asked)."""
    x = np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((size, size)), dtype=np.float32)[np.newaxis]
    return np.ascontiguousarray(x[..., ::-1] if bgr else x)


def check_onnx(archive, flavor, tag_names, images, server_probabilities):
    """ONNX10, ONNX12 and OnnxFloat16 (float16 input and output, as Microsoft's ONNX sample
    detects from the input's type; within 5e-3 of the server)."""
    assert {"model.onnx", "labels.txt"} <= set(archive.namelist())
    labels = archive.read("labels.txt").decode().splitlines()
    assert sorted(labels) == sorted(tag_names)
    folder = unpack(archive)
    model = onnx.load(os.path.join(folder, "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    half = flavor == "OnnxFloat16"
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [12 if half else int(flavor[-2:])]
    if half:
        # Weights float16; biases and depthwise kernels (about 5 % of the values) float32.
        stored = {t.name: (t.data_type, list(t.dims)) for t in model.graph.initializer}
        kept = [d for t, d in stored.values() if t == onnx.TensorProto.FLOAT]
        assert all(len(d) == 1 or (len(d) == 4 and d[1] == 1) for d in kept), kept
        halves = sum(int(np.prod(d)) for t, d in stored.values() if t == onnx.TensorProto.FLOAT16)
        assert halves >= 0.9 * sum(int(np.prod(d)) for _, d in stored.values())
    session = ort.InferenceSession(os.path.join(folder, "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "data" and inp.shape[1:] == [3, 224, 224] and inp.type == ("tensor(float16)" if half else "tensor(float)")
    dtype = np.float16 if half else np.float32
    tolerance = 5e-3 if half else TOLERANCE
    preprocess = load_preprocess(folder)
    worst = 0.0
    for n, data in enumerate(images):
        x = preprocess.network_input(data, 224).astype(dtype)
        p = session.run(["probabilities"], {"data": x})[0][0]
        assert p.dtype == dtype
        worst = max(worst, compare(server_probabilities[n], dict(zip(labels, map(float, p))), f"{flavor} image {n}", tolerance))
        # Microsoft's ONNX sample: metadata says Rgb8 and 0-255, so PIL's RGB pixels as NCHW.
        p = session.run(["probabilities"], {"data": plain_input(data, 224).transpose(0, 3, 1, 2).astype(dtype)})[0][0]
        plain = compare(server_probabilities[n], dict(zip(labels, map(float, p))), f"{flavor} plain image {n}", PLAIN_TOLERANCE)
        PLAIN_WORST[flavor] = max(PLAIN_WORST.get(flavor, 0.0), plain)
    return worst


def check_openvino(archive, tag_names, images, server_probabilities):
    """The IR through OpenVINO's own reader and CPU plugin, fed the ONNX export's prepared
    images divided by 255 (the contract: NCHW RGB 0-1)."""
    assert {"model.xml", "model.bin", "labels.txt", "preprocess.py", "README.md"} <= set(archive.namelist())
    labels = archive.read("labels.txt").decode().splitlines()
    assert sorted(labels) == sorted(tag_names)
    folder = unpack(archive)
    core = openvino.Core()
    model = core.read_model(os.path.join(folder, "model.xml"))
    (inp,) = model.inputs
    assert inp.get_any_name() == "data" and list(inp.get_shape()) == [1, 3, 224, 224], (inp.get_any_name(), inp.get_shape())
    (out,) = model.outputs
    assert "probabilities" in out.get_names() and list(out.get_shape()) == [1, len(labels)]
    # f32 for the exactness check: the CPU plugin defaults to bf16 on CPUs with native bf16,
    # which moves probabilities by about 1e-3 there and not elsewhere.
    compiled = core.compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    preprocess = load_preprocess(folder)
    worst = 0.0
    for n, data in enumerate(images):
        x = preprocess.network_input(data, 224) / np.float32(255)
        p = compiled(x)[compiled.output(0)][0]
        worst = max(worst, compare(server_probabilities[n], dict(zip(labels, map(float, p))), f"OpenVino image {n}"))
        p = compiled(plain_input(data, 224).transpose(0, 3, 1, 2) / np.float32(255))[compiled.output(0)][0]
        plain = compare(server_probabilities[n], dict(zip(labels, map(float, p))), f"OpenVino plain image {n}", PLAIN_TOLERANCE)
        PLAIN_WORST["OpenVino"] = max(PLAIN_WORST.get("OpenVino", 0.0), plain)
    # What users get: the plugin's default precision (bf16 where the CPU has it).
    default = core.compile_model(model, "CPU")
    precision = default.get_property("INFERENCE_PRECISION_HINT")
    default_worst = 0.0
    for n, data in enumerate(images):
        p = default(preprocess.network_input(data, 224) / np.float32(255))[default.output(0)][0]
        expected, got = server_probabilities[n], dict(zip(labels, map(float, p)))
        where = f"OpenVino default ({precision}) image {n}"
        first, second = sorted(expected.values(), reverse=True)[:2]
        if first - second > 2 * OPENVINO_DEFAULT_TOLERANCE:  # a closer call may go either way in bf16
            assert max(expected, key=expected.get) == max(got, key=got.get), (where, expected, got)
        diff = max(abs(expected[t] - got[t]) for t in expected)
        assert diff <= OPENVINO_DEFAULT_TOLERANCE, (where, diff, expected, got)
        default_worst = max(default_worst, diff)
    print(f"OpenVINO default precision {precision}: largest |IR - server| difference {default_worst:.1e}")
    return worst


def check_tensorflow(archive, tag_names, images, server_probabilities):
    assert {"model.pb", "labels.txt", "preprocess.py", "README.md"} <= set(archive.namelist())
    labels = archive.read("labels.txt").decode().splitlines()
    assert sorted(labels) == sorted(tag_names)
    folder = unpack(archive)
    preprocess = load_preprocess(folder)
    inputs = [np.ascontiguousarray(preprocess.network_input(data, 224).transpose(0, 2, 3, 1)[..., ::-1]) for data in images]  # NHWC, BGR
    outputs, info = run_tensorflow(os.path.join(folder, "model.pb"), inputs)
    assert info == {"placeholders": {"Placeholder": [1, 224, 224, 3]}, "sinks": ["loss"]}, info
    worst = 0.0
    for n, y in enumerate(outputs):
        assert y.shape == (1, len(labels)), y.shape
        worst = max(worst, compare(server_probabilities[n], dict(zip(labels, map(float, y[0]))), f"TensorFlow image {n}"))
    return worst


def check_saved_model(archive, tag_names, images, server_probabilities):
    assert {"saved_model.pb", "variables/", "labels.txt", "preprocess.py", "README.md"} <= set(archive.namelist()), archive.namelist()
    labels = archive.read("labels.txt").decode().splitlines()
    folder = unpack(archive)
    preprocess = load_preprocess(folder)
    inputs = [np.ascontiguousarray(preprocess.network_input(data, 224).transpose(0, 2, 3, 1)[..., ::-1]) for data in images]
    outputs, info = run_tensorflow(folder, inputs)
    assert info == {"placeholders": {"serving_default": [1, 224, 224, 3]}, "sinks": ["loss"]}, info
    worst = 0.0
    for n, y in enumerate(outputs):
        worst = max(worst, compare(server_probabilities[n], dict(zip(labels, map(float, y[0]))), f"SavedModel image {n}"))
    return worst


def check_tflite(archive, tag_names, images, server_probabilities):
    """model.tflite through TensorFlow's TFLite interpreter, fed the server's prepared images
    (1e-4) and then PIL-prepared ones as Microsoft's TFLite sample feeds them (0.02)."""
    assert {"model.tflite", "labels.txt", "preprocess.py", "README.md"} <= set(archive.namelist()), archive.namelist()
    labels = archive.read("labels.txt").decode().splitlines()
    assert sorted(labels) == sorted(tag_names)
    folder = unpack(archive)
    preprocess = load_preprocess(folder)
    exact = [np.ascontiguousarray(preprocess.network_input(data, 224).transpose(0, 2, 3, 1)[..., ::-1]) for data in images]
    plain = [plain_input(data, 224, bgr=True) for data in images]
    outputs, info = run_tensorflow(os.path.join(folder, "model.tflite"), exact + plain)
    assert info == {"placeholders": {"Placeholder": [1, 224, 224, 3]}, "sinks": ["loss"]}, info
    worst = 0.0
    for n, y in enumerate(outputs[:len(images)]):
        assert y.shape == (1, len(labels)), y.shape
        worst = max(worst, compare(server_probabilities[n], dict(zip(labels, map(float, y[0]))), f"TFLite image {n}"))
    for n, y in enumerate(outputs[len(images):]):
        plain = compare(server_probabilities[n], dict(zip(labels, map(float, y[0]))), f"TFLite plain image {n}", PLAIN_TOLERANCE)
        PLAIN_WORST["TFLite"] = max(PLAIN_WORST.get("TFLite", 0.0), plain)
    return worst


def load_coreml(path):
    """The spec as coremltools loads it (Core ML cannot run here: no compiling, no predicting)."""
    model = coremltools.models.MLModel(path, skip_model_load=True)
    return model, model.get_spec()


def check_coreml(archive, tag_names, images, server_probabilities):
    """model.mlmodel: coremltools loads it; the spec describes an RGB image input of 224 x 224
    and the classifier's outputs; the NumPy interpreter of its layers gives the server's
    probabilities within 1e-4 for the server's prepared pixels and within 0.02 for PIL's."""
    assert {"model.mlmodel", "labels.txt", "preprocess.py", "README.md"} <= set(archive.namelist()), archive.namelist()
    labels = archive.read("labels.txt").decode().splitlines()
    assert sorted(labels) == sorted(tag_names)
    folder = unpack(archive)
    model, spec = load_coreml(os.path.join(folder, "model.mlmodel"))
    assert spec.WhichOneof("Type") == "neuralNetworkClassifier", spec.WhichOneof("Type")
    (inp,) = spec.description.input
    assert inp.name == "data" and inp.type.WhichOneof("Type") == "imageType"
    assert (inp.type.imageType.width, inp.type.imageType.height) == (224, 224)
    assert inp.type.imageType.colorSpace == coremltools.proto.FeatureTypes_pb2.ImageFeatureType.RGB
    outputs = {o.name: o.type.WhichOneof("Type") for o in spec.description.output}
    assert outputs == {"loss": "dictionaryType", "classLabel": "stringType"}, outputs
    assert spec.description.predictedFeatureName == "classLabel" and spec.description.predictedProbabilitiesName == "loss"
    assert list(spec.neuralNetworkClassifier.stringClassLabels.vector) == labels
    assert model.input_description["data"] is not None
    preprocess = load_preprocess(folder)
    probability_blob = spec.neuralNetworkClassifier.labelProbabilityLayerName
    worst = 0.0
    for n, data in enumerate(images):
        exact = preprocess.network_input(data, 224)[0].transpose(1, 2, 0)  # H x W x RGB
        p = coreml_interpreter.run(spec, exact)[probability_blob].reshape(-1)
        worst = max(worst, compare(server_probabilities[n], dict(zip(labels, map(float, p))), f"CoreML image {n}"))
        p = coreml_interpreter.run(spec, plain_input(data, 224)[0])[probability_blob].reshape(-1)
        plain = compare(server_probabilities[n], dict(zip(labels, map(float, p))), f"CoreML plain image {n}", PLAIN_TOLERANCE)
        PLAIN_WORST["CoreML"] = max(PLAIN_WORST.get("CoreML", 0.0), plain)
    return worst


def test_exports_predict_what_the_server_predicts(export_server):
    server = export_server
    token = server.create_admin()
    acct = make_account(server, token, "export@example.com", tier="S0")
    # 40 classifications in a row: lift S0's 10 per second for this account.
    assert admin_api(server, token, "PUT", f"accounts/{acct['id']}/overrides", json={"transactionsPerSecond": "unlimited"}).ok
    trainer = CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))
    predictor = CustomVisionPredictionClient(acct["endpoint"],
                                             ApiKeyCredentials(in_headers={"Prediction-key": acct["predictionKeys"][0]}))
    images = [img for label in CLASSES for img in fashion("t10k", label, 7)][:20]
    assert len(images) == 20

    report = {}
    for classification_type in ["Multiclass", "Multilabel"]:
        # Multilabel trains Advanced: its exports carry the fine-tuned last stage.
        project, iteration = train_and_publish(trainer, classification_type, acct["resourceId"],
                                               "Advanced" if classification_type == "Multilabel" else "Regular")
        if classification_type == "Multilabel":
            # The tuned path, not a probe kept because the fine-tune lost: what is exported is fine-tuned.
            made = recipe(server, acct["id"], project.id, iteration.id)
            assert made.startswith("Model: fine-tuned last stage and head"), made
        server_probabilities = []
        for data in images:
            result = predictor.classify_image(project.id, "exported", data)
            server_probabilities.append({p.tag_name: p.probability for p in result.predictions})
        if classification_type == "Multiclass":
            assert all(abs(sum(p.values()) - 1) < 1e-4 for p in server_probabilities)
        zips = export_all(trainer, project, iteration, server)
        names = list(CLASSES.values())
        for flavor in ["ONNX10", "ONNX12", "OnnxFloat16"]:
            report[(classification_type, flavor)] = check_onnx(zips[flavor], flavor, names, images, server_probabilities)
        report[(classification_type, "DockerFile")] = check_bundle(zips["Linux"], project, iteration, images,
                                                                   server_probabilities, trainer)
        check_arm_bundle(zips["ARM"], zips["Linux"])
        report[(classification_type, "OpenVino")] = check_openvino(zips["OpenVino"], names, images, server_probabilities)
        report[(classification_type, "TensorFlow")] = check_tensorflow(zips["TensorFlowNormal"], names, images, server_probabilities)
        report[(classification_type, "SavedModel")] = check_saved_model(zips["TensorFlowSavedModel"], names, images, server_probabilities)
        report[(classification_type, "TFLite")] = check_tflite(zips["TensorFlowLite"], names, images, server_probabilities)
        report[(classification_type, "CoreML")] = check_coreml(zips["CoreML"], names, images, server_probabilities)
    print("largest |exported - server| probability difference:", {f"{k[0]}/{k[1]}": f"{v:.1e}" for k, v in report.items()})
    print("prepared with PIL as Microsoft's samples do, same top tag on all 20 images; largest difference:",
          {k: f"{v:.1e}" for k, v in PLAIN_WORST.items()})
