"""`make bench`: the engine's benchmarks next to their references, in one session.

Forward passes are interleaved round by round (Sightline, onnxruntime, NumPy reference)
so that machine load affects all of them alike; medians over every iteration and the
ratio to onnxruntime are reported.
"""
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHARED = os.path.join(os.path.dirname(ROOT), "shared", "reference", "efficientnet-lite")
BENCH = os.path.join(ROOT, ".build", "release", "sightline-bench")
PY = os.path.join(ROOT, ".venv", "bin", "python")
WEIGHTS = os.path.join(ROOT, ".cache", "weights", "efficientnet-lite0.pth")
ONNX = os.path.join(ROOT, ".cache", "bench", "efficientnet-lite0.onnx")
EXPORTED = os.path.join(ROOT, ".cache", "bench", "sightline-exported-lite0.onnx")
GOLDEN = os.path.join(SHARED, "golden", "efficientnet-lite0.golden_input.f32")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


def run(cmd, env=None):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


def reference(engine, batch, threads, iterations, model=ONNX):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    return run([PY, os.path.join(ROOT, "Benchmarks", "reference_timing.py"), engine, "--model", model, "--golden", GOLDEN,
                "--weights", WEIGHTS, "--batch", str(batch), "--threads", str(threads), "--iterations", str(iterations)], env)


def main():
    if os.environ.get("BENCH_ONLY") == "exported":
        return exported_section()
    if not os.path.exists(ONNX):
        os.makedirs(os.path.dirname(ONNX), exist_ok=True)
        subprocess.run([PY, os.path.join(SHARED, "tools", "build_lite0_onnx.py"), "--weights", WEIGHTS, "--out", ONNX], check=True)
    configs = [(1, 1), (8, 1), (1, 2), (8, 2)]
    times = {}
    for r in range(ROUNDS):
        for batch, threads in configs:
            it = 20 if batch == 1 else 4
            s = run([BENCH, "forward", "--batch", str(batch), "--threads", str(threads), "--iterations", str(it)])
            o = reference("onnxruntime", batch, threads, it)
            times.setdefault(("sightline", batch, threads), []).extend(s["ms_per_image"])
            times.setdefault(("onnxruntime", batch, threads), []).extend(o["ms_per_image"])
        n = reference("numpy", 1, 1, 3)
        times.setdefault(("numpy", 1, 1), []).extend(n["ms_per_image"])
        print(f"round {r + 1}/{ROUNDS} done", file=sys.stderr)

    print("## Forward pass, EfficientNet-Lite0, 224×224 (median ms per image; ratio = Sightline / onnxruntime)")
    print("| batch | threads | Sightline | onnxruntime | ratio | NumPy reference |")
    print("|---|---|---|---|---|---|")
    for batch, threads in configs:
        s = statistics.median(times[("sightline", batch, threads)])
        o = statistics.median(times[("onnxruntime", batch, threads)])
        ref = f"{statistics.median(times[('numpy', 1, 1)]):.1f}" if (batch, threads) == (1, 1) else ""
        print(f"| {batch} | {threads} | {s:.2f} | {o:.2f} | {s / o:.2f} | {ref} |")

    exported_section()

    f = run([BENCH, "features", "--images", "64"])
    print(f"\nFeature extraction (preprocess + forward, 1 thread): {f['images_per_second']:.1f} images/s")
    h = run([BENCH, "heads", "--iterations", "3"])
    print(f"Heads, 10 tags × 50 images, 2 views, cached features: fit {statistics.median(h['fit_ms']):.0f} ms, "
          f"fit + {''}cross-validation {statistics.median(h['fit_and_cv_ms']):.0f} ms (cold features {h['cold_features_ms'] / 1000:.1f} s)")
    r = run([BENCH, "retrain"])
    print(f"Retrain after adding 5 images to 500: {r['computed_features']} features computed, "
          f"{r['retrain_with_cv_ms'][0]:.0f} ms including cross-validation")


def exported_section():
    """onnxruntime (1 thread) on a model Sightline exported (backbone + a 5-tag head, opset
    12) against Sightline's own forward pass (1 thread), same input, interleaved rounds."""
    made = run([BENCH, "export-onnx", "--out", EXPORTED, "--opset", "12"])
    times = {"sightline": [], "exported": []}
    for _ in range(ROUNDS):
        times["sightline"] += run([BENCH, "forward", "--batch", "1", "--threads", "1", "--iterations", "20"])["ms_per_image"]
        times["exported"] += reference("exported", 1, 1, 20, model=EXPORTED)["ms_per_image"]
    s, o = statistics.median(times["sightline"]), statistics.median(times["exported"])
    print(f"\n## Exported model ({made['bytes'] / 1e6:.1f} MB ONNX, opset 12), batch 1, 1 thread (median ms per image)")
    print("| Sightline forward pass | onnxruntime on the exported model | ratio (Sightline / onnxruntime) |")
    print("|---|---|---|")
    print(f"| {s:.2f} | {o:.2f} | {s / o:.2f} |")


if __name__ == "__main__":
    main()
