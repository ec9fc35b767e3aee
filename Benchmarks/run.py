"""`make bench`: the engine's benchmarks next to their references, in one session.

Forward passes are interleaved round by round (Sightline, onnxruntime, OpenVINO, all on
the same classifier) so that machine load affects all of them alike; medians over every
iteration and the ratios are reported.
"""
import json
import os
import statistics
import subprocess
import sys

import numpy as np
from PIL import Image

from bench_mode import ROOT, binary, env_or, sized

SHARED = os.path.join(os.path.dirname(ROOT), "shared", "reference", "efficientnet-lite")
BENCH = binary("sightline-bench")
PY = os.path.join(ROOT, ".venv", "bin", "python")
WEIGHTS = os.path.join(ROOT, ".cache", "weights", "efficientnet-lite0.pth")
GOLDEN = os.path.join(SHARED, "golden", "efficientnet-lite0.golden_input.f32")
ROUNDS = int(env_or("BENCH_ROUNDS", 3, 1))


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def reference(engine, batch, threads, iterations, model, size=224):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    return run([PY, os.path.join(ROOT, "Benchmarks", "reference_timing.py"), engine, "--model", model, "--golden", GOLDEN,
                "--weights", WEIGHTS, "--batch", str(batch), "--threads", str(threads), "--iterations", str(iterations),
                "--size", str(size)], env)


def exported(size):
    path = os.path.join(ROOT, ".cache", "bench", f"sightline-exported-lite0-{size}.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    run([BENCH, "export-onnx", "--out", path, "--opset", "12", "--size", str(size)])
    return path


def median(v):
    return statistics.median(v)


def main():
    # Every contender runs the same work: the whole classifier Sightline exports (backbone
    # and a 5-tag head), Sightline natively, onnxruntime and OpenVINO on the ONNX file.
    model224, model416 = exported(224), exported(416)
    configs = [(1, 1), (8, 1), (1, 2), (8, 2)]
    engines = ["sightline", "exported", "openvino"]
    times = {}
    for r in range(ROUNDS):
        for batch, threads in configs:
            it = sized(20 if batch == 1 else 4, 1)
            times.setdefault(("sightline", batch, threads), []).extend(
                run([BENCH, "forward", "--head", "1", "--batch", str(batch), "--threads", str(threads), "--iterations", str(it)])["ms_per_image"])
            for e in engines[1:]:
                times.setdefault((e, batch, threads), []).extend(reference(e, batch, threads, it, model=model224)["ms_per_image"])
        times.setdefault(("sightline", 416), []).extend(
            run([BENCH, "forward", "--head", "1", "--size", "416", "--iterations", str(sized(10, 1))])["ms_per_image"])
        times.setdefault(("exported", 416), []).extend(reference("exported", 1, 1, sized(10, 1), model=model416, size=416)["ms_per_image"])
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)

    print("## Forward pass, EfficientNet-Lite0 + a 5-tag head (Sightline's exported model), 224×224")
    print("median ms per image; ratios are Sightline / the other")
    print("| batch | threads | Sightline | onnxruntime | OpenVINO | vs onnxruntime | vs OpenVINO |")
    print("|---|---|---|---|---|---|---|")
    for batch, threads in configs:
        s, o, v = (median(times[(e, batch, threads)]) for e in engines)
        print(f"| {batch} | {threads} | {s:.2f} | {o:.2f} | {v:.2f} | {s / o:.2f} | {s / v:.2f} |")
    s416, o416 = median(times[("sightline", 416)]), median(times[("exported", 416)])
    s224 = median(times[("sightline", 1, 1)])
    print(f"\n416×416 (detection size), batch 1, 1 thread: Sightline {s416:.2f} ms, onnxruntime {o416:.2f} ms "
          f"(ratio {s416 / o416:.2f}); Sightline 416 / 224 = {s416 / s224:.2f}")

    # A 1024×768 camera-sized JPEG: the golden photo scaled up.
    photo = os.path.join(ROOT, ".cache", "bench", "photo-1024x768.jpg")
    pixels = np.clip(np.fromfile(GOLDEN, dtype="<f4").reshape(224, 224, 3) * 128 + 127, 0, 255).astype("uint8")
    Image.fromarray(pixels).resize((1024, 768), Image.BICUBIC).save(photo, "JPEG", quality=90)
    p = run([BENCH, "pipeline", "--images", str(sized(40, 2)), "--image", photo])
    print(f"\nPer-image pipeline (JPEG {p['bytes'] // 1024} KB decode, resize, forward, head; 1 thread): "
          f"{p['images_per_second']:.1f} images/s")
    print("\n## Two engine jobs × 1 thread against one job × 2 threads")
    print("| jobs × threads | training images/s (batch 8) | predictions/s (batch 1) | median prediction ms |")
    print("|---|---|---|---|")
    for jobs, threads in [(2, 1), (1, 2), (1, 1)]:
        j = run([BENCH, "jobs", "--jobs", str(jobs), "--threads", str(threads), "--images", str(sized(48, 4))])
        print(f"| {jobs} × {threads} | {j['training_images_per_second']:.1f} | {j['predictions_per_second']:.1f} | {median(j['prediction_ms']):.2f} |")

    f = run([BENCH, "features", "--images", str(sized(64, 2))])
    print(f"\nFeature extraction (preprocess + forward, 1 thread): {f['images_per_second']:.1f} images/s")
    per_class = sized(50, 3)
    h = run([BENCH, "heads", "--iterations", str(sized(3, 1)), "--per-class", str(per_class)])
    print(f"Heads, 10 tags × {per_class} images, 2 views, cached features: fit {median(h['fit_ms']):.0f} ms, "
          f"fit + cross-validation {median(h['fit_and_cv_ms']):.0f} ms (cold features {h['cold_features_ms'] / 1000:.1f} s)")
    r = run([BENCH, "retrain", "--per-class", str(per_class)])
    print(f"Retrain after adding 5 images to {10 * per_class}: {r['computed_features']} features computed, "
          f"{r['retrain_with_cv_ms'][0]:.0f} ms including cross-validation")


if __name__ == "__main__":
    main()
