"""The compact detection export checked by outside tools: a "General (compact)"
ObjectDetection iteration is trained on the od-composites (aerial photos with Fashion-MNIST
objects pasted on) and published with Microsoft's SDK, exported as ONNX, and then
- onnx.checker passes and onnxruntime loads it with Custom Vision's compact detection
  contract: input [1, 3, 416, 416] RGB 0-255, output [1, 5·(5+C), 13, 13];
- decoding that output the way Custom Vision's exported-model samples do (5 anchors,
  σ(obj)·softmax(classes), per-class NMS), written here in NumPy, gives the same boxes and
  scores as detect_image_with_no_store on the running server for 20 held-out composites
  (10 with both objects, 10 with one): same tag, IoU ≥ 0.99, scores within 1e-4;
- the OpenVino export (IR) through OpenVINO's runtime, fed the same pixels as 0-1 RGB,
  decoded the same way, gives the same detections; so does the TensorFlow frozen graph fed
  NHWC BGR 0-255, its NHWC grid decoded as Microsoft's TensorFlow sample reads it, and the
  TensorFlowLite flavor through the TFLite interpreter, OnnxFloat16 within 5e-3, and the
  Core ML spec through a NumPy interpreter of its layers; and, with images of another size
  resized whole to 416 x 416 by PIL as Microsoft's samples do, the ONNX, OpenVINO, TFLite
  and Core ML models give the same boxes (IoU 0.9) and scores within 0.02 for every server
  detection of at least 0.3;
- the DockerFile export's service, started with its Dockerfile's own command on loopback,
  answers POST /image on those 20 images with the server's detections (boundingBox, tag
  ids, probabilities sorted), and refuses a non-image with BadRequestImageFormat.
"""
import io
import os
import tempfile
import time
import uuid
import zipfile

import numpy as np
import onnx
import onnxruntime as ort
import openvino
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry, Region
from msrest.authentication import ApiKeyCredentials
from PIL import Image

import coreml_interpreter
from conftest import admin_api, make_account
from detection_decoding import ANCHORS, COMPARED, GRID, SIZE, clipped, closest_twins, compare, decode
from export_support import BundleService, check_dockerfile, unpack
from tensorflow_process import run_tensorflow
from test_export import load_coreml
from test_quickstart_detection import COMPOSITES, composites, iou

COMPACT_DETECTION = "a27d5ca5-bb19-49d8-a70a-fec086c47f5b"  # "General (compact)", ObjectDetection
PLAIN_COMPARED, PLAIN_SAME_BOX, PLAIN_TOLERANCE = 0.3, 0.9, 0.02  # the contract's preprocessing in PIL, not the server's libvips
HALF_TOLERANCE = 5e-3  # OnnxFloat16
# OpenVINO's CPU plugin as users get it: bf16 on CPUs with native bf16 (f32 elsewhere).
# Every detection of at least 0.3 has a twin of the same tag, IoU 0.9, score within 0.05.
DEFAULT_COMPARED, DEFAULT_SAME_BOX, DEFAULT_TOLERANCE = 0.3, 0.9, 0.05


def network_input(rgb):
    """The contract's input: the image (already 416×416) as float32 RGB 0-255, NCHW."""
    assert rgb.size == (SIZE, SIZE)
    return np.asarray(rgb, np.float32).transpose(2, 0, 1)[None]


def train_and_publish(trainer, resource_id):
    project = trainer.create_project(f"export-detection-{uuid.uuid4().hex[:6]}", domain_id=COMPACT_DETECTION)
    tags = {name: trainer.create_tag(project.id, name) for name in ["fork", "scissors"]}
    entries = []
    for e in composites("train"):
        with open(os.path.join(COMPOSITES, e["file"]), "rb") as f:
            regions = [Region(tag_id=tags[t].id, left=b[0], top=b[1], width=b[2], height=b[3]) for t, b in zip(e["tags"], e["boxes"])]
            entries.append(ImageFileCreateEntry(name=os.path.basename(e["file"]), contents=f.read(), regions=regions))
    assert len(entries) == 40
    assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    iteration = trainer.train_project(project.id)
    deadline = time.time() + 600
    while iteration.status == "Training":
        assert time.time() < deadline, "training took longer than 600 s"
        time.sleep(1)
        iteration = trainer.get_iteration(project.id, iteration.id)
    assert iteration.status == "Completed", iteration.training_error_details
    assert iteration.exportable and {"ONNX", "DockerFile", "OpenVino", "TensorFlow"} <= set(iteration.exportable_to), iteration.exportable_to
    assert trainer.publish_iteration(project.id, iteration.id, "exported", resource_id)
    return project, iteration


def export_onnx(trainer, project, iteration, server, platform="ONNX"):
    first = trainer.export_iteration(project.id, iteration.id, platform)
    assert first.platform == platform and first.status == "Exporting", (first.platform, first.status)
    deadline = time.time() + 300
    while True:
        exports = [e for e in trainer.get_exports(project.id, iteration.id) if e.platform == platform]
        assert len(exports) == 1, [(e.platform, e.flavor, e.status) for e in exports]
        if exports[0].status != "Exporting":
            break
        assert time.time() < deadline, "export took longer than 300 s"
        time.sleep(0.5)
    (export,) = exports
    assert export.status == "Done" and export.download_uri.startswith(server.url + "/blobs/"), (export.status, export.download_uri)
    r = requests.get(export.download_uri, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(r.content))


def export_flavor(trainer, project, iteration, flavor, platform="TensorFlow"):
    """A flavor's export, picked by flavor (its platform has several)."""
    first = trainer.export_iteration(project.id, iteration.id, platform, flavor=flavor)
    assert first.flavor == flavor
    deadline = time.time() + 300
    while True:
        (export,) = [e for e in trainer.get_exports(project.id, iteration.id) if e.flavor == flavor]
        if export.status != "Exporting":
            break
        assert time.time() < deadline
        time.sleep(0.5)
    assert export.status == "Done", export.status
    return zipfile.ZipFile(io.BytesIO(requests.get(export.download_uri, timeout=60).content))


def test_detection_export_predicts_what_the_server_predicts(export_server):
    server = export_server
    token = server.create_admin()
    acct = make_account(server, token, "export-detection@example.com", tier="S0")
    # 20 detections in a row: lift S0's 10 per second for this account.
    assert admin_api(server, token, "PUT", f"accounts/{acct['id']}/overrides", json={"transactionsPerSecond": "unlimited"}).ok
    trainer = CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))
    predictor = CustomVisionPredictionClient(acct["endpoint"],
                                             ApiKeyCredentials(in_headers={"Prediction-key": acct["predictionKeys"][0]}))
    project, iteration = train_and_publish(trainer, acct["resourceId"])
    archive = export_onnx(trainer, project, iteration, server)

    assert {"model.onnx", "labels.txt"} <= set(archive.namelist()), archive.namelist()
    labels = archive.read("labels.txt").decode().splitlines()
    assert sorted(labels) == ["fork", "scissors"], labels
    folder = tempfile.mkdtemp(prefix="sightline-export-detection-")
    archive.extractall(folder)
    model = onnx.load(os.path.join(folder, "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(os.path.join(folder, "model.onnx"), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    (out,) = session.get_outputs()
    batch = inp.shape[0]  # 1, or a symbolic batch dimension
    assert inp.type == "tensor(float)" and inp.shape[1:] == [3, SIZE, SIZE] and (batch in (1, None) or isinstance(batch, str)), inp.shape
    assert out.shape[1:] == [len(ANCHORS) * (5 + len(labels)), GRID, GRID], out.shape

    # Both objects in one image, then single objects of each tag; all unseen in training.
    pairs, singles = composites("pairs"), composites("test")
    chosen = pairs + [e for e in singles if e["tags"] == ["fork"]][:5] + [e for e in singles if e["tags"] == ["scissors"]][:5]
    assert len(chosen) == 20
    # Each JPEG is decoded once, here; every check below reads these pixels.
    pixels = {e["file"]: Image.open(os.path.join(COMPOSITES, e["file"])).convert("RGB") for e in chosen}
    nhwc_bgr = [np.ascontiguousarray(network_input(pixels[e["file"]]).transpose(0, 2, 3, 1)[..., ::-1]) for e in chosen]
    worst, compared, found = 0.0, 0, 0
    served_by_file, pngs = {}, {}
    for e in chosen:
        # The server gets the decoded pixels losslessly as PNG, so the comparison does not
        # hinge on two JPEG decoders agreeing.
        rgb = pixels[e["file"]]
        png = io.BytesIO()
        rgb.save(png, "PNG")
        result = predictor.detect_image_with_no_store(project.id, "exported", png.getvalue())
        assert all(0 <= p.probability <= 1 for p in result.predictions)
        served = [(p.tag_name, p.probability, [p.bounding_box.left, p.bounding_box.top, p.bounding_box.width,
                                               p.bounding_box.height]) for p in result.predictions]
        served_by_file[e["file"]], pngs[e["file"]] = served, png.getvalue()
        raw = session.run([out.name], {inp.name: network_input(rgb)})[0]
        assert raw.shape == (1, len(ANCHORS) * (5 + len(labels)), GRID, GRID) and raw.dtype == np.float32, raw.shape
        exported = decode(raw, labels)
        worst = max(worst, compare(served, exported, e["file"]))
        compared += sum(1 for d in served if d[1] >= COMPARED)
        # Not asserted (the export check is about equality): how many objects the model finds.
        for tag, truth in zip(e["tags"], e["boxes"]):
            best = max((d for d in exported if d[0] == tag), key=lambda d: d[1], default=None)
            found += bool(best and iou(clipped(best[2]), truth) >= 0.5)
    assert compared >= 20, f"only {compared} server detections reached {COMPARED}: nothing much was compared"
    print(f"{compared} detections compared, largest |exported - server| score difference {worst:.1e}; "
          f"best box per tag right for {found} of {sum(len(e['boxes']) for e in chosen)} objects")

    # The contract as Microsoft's samples prepare images: the photo as it comes (here
    # stretched to 560 x 400 and sent to the server as it is) and, for the model, resized
    # whole to 416 x 416 with PIL instead of libvips, then in the platform's channel order and
    # range. Asserted for ONNX, OpenVINO, TFLite and Core ML: every server detection of at
    # least 0.3 has a twin of the same tag within IoU 0.9 and 0.02 of its score (ONNX
    # measured 1.2e-2, IoU 0.995; 0.12 before the server's resize became PIL's).
    plain_served, plain_photos = [], []
    for e in chosen:
        photo = pixels[e["file"]].resize((560, 400), Image.BICUBIC)
        png = io.BytesIO()
        photo.save(png, "PNG")
        result = predictor.detect_image_with_no_store(project.id, "exported", png.getvalue())
        plain_served.append([(p.tag_name, p.probability, [p.bounding_box.left, p.bounding_box.top, p.bounding_box.width,
                                                          p.bounding_box.height]) for p in result.predictions])
        plain_photos.append(photo.resize((SIZE, SIZE)))
    plain_nhwc_bgr = [np.ascontiguousarray(network_input(photo).transpose(0, 2, 3, 1)[..., ::-1]) for photo in plain_photos]

    def check_plain(where, grids):
        """grids: the model's NCHW output for the PIL-prepared photos, in order (the first
        len(grids) of them)."""
        worst, smallest, compared = 0.0, 1.0, 0
        for served, grid in zip(plain_served, grids):
            for d, best, overlap in closest_twins(served, decode(grid, labels), PLAIN_COMPARED):
                assert best and overlap >= PLAIN_SAME_BOX and abs(best[1] - d[1]) <= PLAIN_TOLERANCE, (where, d, best)
                smallest, worst, compared = min(smallest, overlap), max(worst, abs(best[1] - d[1])), compared + 1
        assert compared >= 5, (where, compared)
        print(f"PIL-prepared {where} (as Microsoft's sample): {compared} detections of at least {PLAIN_COMPARED} have "
              f"their box (smallest IoU {smallest:.3f}); largest score difference {worst:.1e}")

    check_plain("ONNX", [session.run([out.name], {inp.name: network_input(photo)})[0] for photo in plain_photos])

    # OnnxFloat16: float16 in and out, the same detections within 5e-3 (boxes within IoU 0.99).
    # Measured 1.4e-3 with biases and depthwise kernels kept float32 (5.3e-3 with every
    # weight float16).
    half_folder = unpack(export_flavor(trainer, project, iteration, "OnnxFloat16", platform="ONNX"))
    half_model = onnx.load(os.path.join(half_folder, "model.onnx"))
    onnx.checker.check_model(half_model, full_check=True)
    half_session = ort.InferenceSession(os.path.join(half_folder, "model.onnx"), providers=["CPUExecutionProvider"])
    assert half_session.get_inputs()[0].type == "tensor(float16)"
    half_worst, half_iou = 0.0, 1.0
    half_detections = {}
    for e in chosen:
        raw = half_session.run(None, {"data": network_input(pixels[e["file"]]).astype(np.float16)})[0]
        assert raw.dtype == np.float16
        half_detections[e["file"]] = decode(raw.astype(np.float32), labels)
        # Measured first (the closest twin of each server detection), then asserted below.
        for d, best, overlap in closest_twins(served_by_file[e["file"]], half_detections[e["file"]], COMPARED):
            if best:
                half_iou, half_worst = min(half_iou, overlap), max(half_worst, abs(best[1] - d[1]))
    print(f"OnnxFloat16: largest |float16 - server| score difference {half_worst:.1e}, smallest IoU {half_iou:.3f}")
    for name, exported in half_detections.items():
        compare(served_by_file[name], exported, "float16 " + name, HALF_TOLERANCE)

    # The OpenVINO IR on the same pixels, 0-1.
    ir = unpack(export_onnx(trainer, project, iteration, server, platform="OpenVino"))
    assert sorted(os.listdir(ir)) == ["README.md", "labels.txt", "model.bin", "model.xml"], os.listdir(ir)
    core = openvino.Core()
    # f32 for the exactness check: the CPU plugin defaults to bf16 on CPUs with native bf16.
    compiled = core.compile_model(core.read_model(os.path.join(ir, "model.xml")), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    assert list(compiled.input(0).get_shape()) == [1, 3, SIZE, SIZE]
    assert list(compiled.output(0).get_shape()) == [1, len(ANCHORS) * (5 + len(labels)), GRID, GRID]
    assert "model_outputs0" in compiled.output(0).get_names()
    ir_worst = 0.0
    for e in chosen:
        rgb = pixels[e["file"]]
        raw = compiled(network_input(rgb) / np.float32(255))[compiled.output(0)]
        ir_worst = max(ir_worst, compare(served_by_file[e["file"]], decode(raw, labels), "openvino " + e["file"]))
    print(f"OpenVINO: largest |IR - server| score difference {ir_worst:.1e}")
    default = core.compile_model(core.read_model(os.path.join(ir, "model.xml")), "CPU")
    precision, default_worst = default.get_property("INFERENCE_PRECISION_HINT"), 0.0
    assert sum(d[1] >= DEFAULT_COMPARED for e in chosen for d in served_by_file[e["file"]]) >= 5, "too few detections to compare"
    for e in chosen:
        raw = default(network_input(pixels[e["file"]]) / np.float32(255))[default.output(0)]
        default_worst = max(default_worst, compare(served_by_file[e["file"]], decode(raw, labels),
                                                   f"openvino default ({precision}) {e['file']}",
                                                   DEFAULT_TOLERANCE, DEFAULT_SAME_BOX, DEFAULT_COMPARED))
    print(f"OpenVINO default precision {precision}: largest |IR - server| score difference {default_worst:.1e}")
    check_plain("OpenVINO", [compiled(network_input(photo) / np.float32(255))[compiled.output(0)] for photo in plain_photos])

    # The TensorFlow frozen graph: NHWC BGR 0-255 in, the NHWC grid out.
    frozen = unpack(export_onnx(trainer, project, iteration, server, platform="TensorFlow"))
    assert sorted(os.listdir(frozen)) == ["README.md", "labels.txt", "model.pb"], os.listdir(frozen)

    def nhwc_grids_worst(model_path, where):
        """The model (frozen graph or TFLite) on every chosen image, its NHWC grid decoded and
        compared with the server's detections; returns the largest score difference."""
        grids, info = run_tensorflow(model_path, nhwc_bgr)
        assert info == {"placeholders": {"Placeholder": [1, SIZE, SIZE, 3]}, "sinks": ["model_outputs0"]}, info
        worst = 0.0
        for e, grid in zip(chosen, grids):
            assert grid.shape == (1, GRID, GRID, len(ANCHORS) * (5 + len(labels))), grid.shape
            worst = max(worst, compare(served_by_file[e["file"]], decode(grid.transpose(0, 3, 1, 2), labels), f"{where} {e['file']}"))
        return worst

    print(f"TensorFlow: largest |frozen graph - server| score difference {nhwc_grids_worst(os.path.join(frozen, 'model.pb'), 'tensorflow'):.1e}")

    # The SavedModel flavor, through its serving_default signature.
    folder = unpack(export_flavor(trainer, project, iteration, "TensorFlowSavedModel"))
    grids, info = run_tensorflow(folder, nhwc_bgr[:5])
    assert info == {"placeholders": {"serving_default": [1, SIZE, SIZE, 3]}, "sinks": ["model_outputs0"]}, info
    for e, grid in zip(chosen[:5], grids):
        compare(served_by_file[e["file"]], decode(grid.transpose(0, 3, 1, 2), labels), "savedmodel " + e["file"])

    # The TFLite flavor through TensorFlow's TFLite interpreter: NHWC BGR 0-255 in, the NHWC grid out.
    lite = unpack(export_flavor(trainer, project, iteration, "TensorFlowLite"))
    assert sorted(os.listdir(lite)) == ["README.md", "labels.txt", "model.tflite"], os.listdir(lite)
    print(f"TFLite: largest |model.tflite - server| score difference {nhwc_grids_worst(os.path.join(lite, 'model.tflite'), 'tflite'):.1e}")
    plain_grids, _ = run_tensorflow(os.path.join(lite, "model.tflite"), plain_nhwc_bgr)
    check_plain("TFLite", [grid.transpose(0, 3, 1, 2) for grid in plain_grids])

    # Core ML: coremltools loads the spec (an RGB 416 x 416 image in, the CHW grid out); the
    # NumPy interpreter of its layers gives the same detections.
    coreml = unpack(export_onnx(trainer, project, iteration, server, platform="CoreML"))
    assert sorted(os.listdir(coreml)) == ["README.md", "labels.txt", "model.mlmodel"], os.listdir(coreml)
    _, spec = load_coreml(os.path.join(coreml, "model.mlmodel"))
    assert spec.WhichOneof("Type") == "neuralNetwork"
    (inp,) = spec.description.input
    assert inp.name == "data" and (inp.type.imageType.width, inp.type.imageType.height) == (SIZE, SIZE)
    (out,) = spec.description.output
    assert out.name == "model_outputs0" and list(out.type.multiArrayType.shape) == [len(ANCHORS) * (5 + len(labels)), GRID, GRID]
    coreml_worst = 0.0
    for e in chosen[:6]:
        rgb = np.asarray(pixels[e["file"]], np.float32)
        grid = coreml_interpreter.run(spec, rgb)["model_outputs0"][None]
        coreml_worst = max(coreml_worst, compare(served_by_file[e["file"]], decode(grid, labels), "coreml " + e["file"]))
    print(f"Core ML (NumPy interpreter): largest |model - server| score difference {coreml_worst:.1e}")
    # The image input takes PIL's RGB pixels as they are (the model scales them itself).
    plain_coreml = [coreml_interpreter.run(spec, np.asarray(photo, np.float32))["model_outputs0"][None] for photo in plain_photos[:6]]
    check_plain("Core ML", plain_coreml)  # zip pairs them with the first 6 photos

    # The Docker bundle's own service on the same pixels.
    bundle = unpack(export_onnx(trainer, project, iteration, server, platform="DockerFile"))
    command = check_dockerfile(bundle)
    for name in ["model.onnx", "labels.txt", "manifest.json", "app.py", "preprocess.py", "README.md", "DECODING.md"]:
        assert os.path.exists(os.path.join(bundle, name)), name
    tag_ids = {t.name: t.id for t in trainer.get_tags(project.id)}
    service = BundleService(bundle, command)
    try:
        bundle_worst = 0.0
        for e in chosen:
            r = requests.post(service.url + "/image", data=pngs[e["file"]], headers={"Content-Type": "application/octet-stream"},
                              timeout=60)
            assert r.status_code == 200, r.text
            body = r.json()
            assert (body["project"], body["iteration"]) == (project.id, iteration.id)
            probabilities = [p["probability"] for p in body["predictions"]]
            assert probabilities == sorted(probabilities, reverse=True)
            assert all(tag_ids[p["tagName"]] == p["tagId"] and p["tagType"] == "Regular" for p in body["predictions"])
            got = [(p["tagName"], p["probability"], [p["boundingBox"][k] for k in ("left", "top", "width", "height")])
                   for p in body["predictions"]]
            bundle_worst = max(bundle_worst, compare(served_by_file[e["file"]], got, "bundle " + e["file"]))
        bad = requests.post(service.url + "/image", data=b"not an image", timeout=60)
        assert bad.status_code == 400 and bad.json()["code"] == "BadRequestImageFormat", bad.text
    finally:
        service.stop()
    print(f"bundle service: largest |bundle - server| score difference {bundle_worst:.1e}")
