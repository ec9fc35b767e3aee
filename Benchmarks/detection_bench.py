"""Object-detection benchmarks (release server, outside CI), each against a reference
measured in the same run: a Multiclass classification project trained on the same images.

Data: od-composites (Tests/Fixtures/make_detection_set.py), 416×416 aerial photo crops with
one Fashion-MNIST sneaker ("fork") or bag ("scissors") pasted on each. Training images come
from its "bench" split (30 per tag), evaluation images from "benchtest" (20 per tag, objects
training never saw).

* Object Detection, "General (compact)" domain, Training API v3.3: for each size (images
  *per tag*, DETECTION_PER_TAG, default 15 and 30, i.e. 30 and 60 training images; the
  server refuses detection tags with regions on fewer than 15 images, as Custom Vision
  does), the wall time from the train call until the iteration reads Completed.
* detect_image (v3.0, raw bytes, nostore) latency, sequential requests on one keep-alive
  connection over the 40 benchtest images × LATENCY_ROUNDS, median and p90; the first
  request after publishing (model load) is timed apart and left out.
* mAP@0.5 of the server's detections on the 40 benchtest images (VOC all-point AP per tag,
  detections matched greedily by probability to the best-overlapping unmatched truth box of
  their tag at IoU ≥ 0.5, averaged over the 2 tags), next to the averagePrecision the
  iteration's performance call reports for its own held-out images.
* The reference: the largest size's images as a 2-tag Multiclass classification project
  ("General (compact)" classification domain), training time and classify_image latency
  on the same 40 benchtest images; ratios detection / classification.

* The engine alone (`sightline-bench detect --full 1`, release): the same bench and
  benchtest images, a training job's work (held-out measurement, then fine-tuning on all)
  on 15, 30 and 60 training images (ENGINE_IMAGES): 15 is below what the API accepts for
  2 tags (15 images with regions per tag), so its mAP is measured here. And the input-size
  choice of the non-compact "General" domain: DeepForest tiles (dense ~40 px trees) at
  416 (13×13 grid) against 608 (19×19), the Quick head, fit and mAP@0.5 on unseen tiles.

Every timed training runs on a fresh server (empty DATA_DIR): the feature caches are keyed
by image bytes across projects, so a second project of the same images would train warm.
The largest size and its reference train TRAIN_RUNS times (default 3; median reported),
alternating, when the first detection training took under REPEAT_UNDER_S (default 120 s),
else once each; the output says which. The account's TPS limit is lifted, so the
latency loop is not throttled.

Usage: swift build -c release --product sightline; .venv/bin/python Benchmarks/detection_bench.py
Environment: DETECTION_PER_TAG (comma-separated, default "15,30"), TRAIN_RUNS (3),
REPEAT_UNDER_S (120), LATENCY_ROUNDS (3), TRAIN_TIMEOUT_S (1800), ENGINE_IMAGES ("15,30,60";
empty skips the engine section), FOREST_INPUTS ("416,608"; empty skips).
"""
import base64
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.parse

import requests

from bench_mode import SMOKE, binary, env_or
from bench_server import ROOT, BenchServer
from detection_scoring import classification_accuracy, detection_map

COMPOSITES = os.path.join(ROOT, ".cache", "datasets", "od-composites")
OD_COMPACT = "a27d5ca5-bb19-49d8-a70a-fec086c47f5b"  # General (compact), ObjectDetection
CLASSIFICATION_COMPACT = "0732100f-1a38-4e49-a514-c9b44c697ab5"  # General (compact), Classification
TAGS = ("fork", "scissors")
BATCH = 64
POLL_S = 0.1


def env_int(name, default, smoke=None):
    return int(env_or(name, default, default if smoke is None else smoke))


# ---- data ---------------------------------------------------------------------------------

def manifest():
    """The od-composites manifest, built or upgraded (bench splits) first when needed."""
    path = os.path.join(COMPOSITES, "manifest.json")

    def has_bench():
        try:
            with open(path) as f:
                return {"bench", "benchtest"} <= {e.get("split") for e in json.load(f)}
        except (OSError, ValueError):
            return False
    if not has_bench():
        subprocess.run([os.path.join(ROOT, "scripts", "datasets-ensure.sh")], cwd=ROOT, check=True)
    with open(path) as f:
        return json.load(f)


def load(entries):
    """[(manifest entry, file bytes)] in manifest order."""
    out = []
    for e in entries:
        with open(os.path.join(COMPOSITES, e["file"]), "rb") as f:
            out.append((e, f.read()))
    return out


def bench_images(all_entries, per_tag):
    """The first per_tag bench composites of each tag."""
    bench = [e for e in all_entries if e["split"] == "bench"]
    picked = []
    for tag in TAGS:
        mine = [e for e in bench if e["tags"] == [tag]]
        if len(mine) < per_tag:
            sys.exit(f"the bench split has {len(mine)} {tag} images, fewer than {per_tag}")
        picked += mine[:per_tag]
    return load(picked)


# ---- the REST API ------------------------------------------------------------------------

def check(r, what):
    if not 200 <= r.status_code < 300:
        raise RuntimeError(f"{what}: HTTP {r.status_code} {r.text[:500]}")
    return r.json() if r.content else None


class Account:
    """A user and an S0 account with its TPS limit lifted, on one server."""

    def __init__(self, server):
        url, admin = server.url, server.admin
        r = requests.post(f"{url}/admin/api/users", json={"email": "u@example.com", "password": "password-123"}, headers=admin)
        if r.status_code != 409:
            check(r, "create user")
        acct = check(requests.post(f"{url}/admin/api/accounts", json={"ownerEmail": "u@example.com", "name": "detection-bench",
                                                                       "tier": "S0"}, headers=admin), "create account")
        # The operator lifts the tier's TPS limit: the latency loop measures the model, not the limiter.
        check(requests.put(f"{url}/admin/api/accounts/{acct['id']}/overrides", json={"transactionsPerSecond": "unlimited"},
                           headers=admin), "TPS override")
        self.url = url
        self.resource_id = acct["resourceId"]
        self.prediction_key = acct["predictionKeys"][0]
        self.training = requests.Session()
        self.training.headers["Training-Key"] = acct["trainingKeys"][0]
        self.base = f"{url}/customvision/v3.3/training/projects"


def create_project(acct, name, detection, images):
    """A project of `images` ([(entry, bytes)]); returns (project id, {tag name: tag id})."""
    t = acct.training
    params = {"name": name, "domainId": OD_COMPACT if detection else CLASSIFICATION_COMPACT}
    if not detection:
        params["classificationType"] = "Multiclass"
    project = check(t.post(acct.base, params=params), "create project")["id"]
    tag_ids = {tag: check(t.post(f"{acct.base}/{project}/tags", params={"name": tag}), f"create tag {tag}")["id"]
               for tag in TAGS}
    entries = []
    for e, data in images:
        entry = {"name": os.path.basename(e["file"]), "contents": base64.b64encode(data).decode()}
        if detection:
            entry["regions"] = [{"tagId": tag_ids[tag], "left": b[0], "top": b[1], "width": b[2], "height": b[3]}
                                for tag, b in zip(e["tags"], e["boxes"])]
        else:
            entry["tagIds"] = [tag_ids[e["tags"][0]]]
        entries.append(entry)
    for i in range(0, len(entries), BATCH):
        result = check(t.post(f"{acct.base}/{project}/images/files", json={"images": entries[i:i + BATCH]}), "upload images")
        if not result.get("isBatchSuccessful"):
            raise RuntimeError(f"upload batch failed: {[im.get('status') for im in result.get('images', [])]}")
    return project, tag_ids


def train(acct, project):
    """Seconds from the train call until the iteration reads Completed; and the iteration id."""
    t, timeout = acct.training, env_int("TRAIN_TIMEOUT_S", 1800)
    start = time.perf_counter()
    it = check(t.post(f"{acct.base}/{project}/train"), "train")
    while it["status"] not in ("Completed", "Failed"):
        if time.perf_counter() - start > timeout:
            raise RuntimeError(f"training still {it['status']} after {timeout} s")
        time.sleep(POLL_S)
        it = check(t.get(f"{acct.base}/{project}/iterations/{it['id']}"), "get iteration")
    elapsed = time.perf_counter() - start
    if it["status"] != "Completed":
        raise RuntimeError(f"training failed: {json.dumps(it)[:500]}")
    return elapsed, it["id"]


def publish(acct, project, iteration, name):
    ok = check(acct.training.post(f"{acct.base}/{project}/iterations/{iteration}/publish",
                                  params={"publishName": name, "predictionId": acct.resource_id}), "publish")
    if ok is not True:
        raise RuntimeError(f"publish answered {ok!r}")


def performance(acct, project, iteration):
    """The averagePrecision the iteration reports for its held-out images; None (with a
    warning) when the call fails, so that the timings still come out."""
    try:
        perf = check(acct.training.get(f"{acct.base}/{project}/iterations/{iteration}/performance",
                                       params={"threshold": 0.5, "overlapThreshold": 0.5}), "performance")
        return float(perf["averagePrecision"])
    except (RuntimeError, KeyError, TypeError, ValueError) as e:
        print(f"  warning: no iteration performance: {e}", file=sys.stderr)
        return None


def predict_loop(acct, project, name, kind, images, rounds):
    """Sequential raw-bytes predictions (kind "detect" or "classify", nostore) on one
    keep-alive connection. Returns (first call's ms, [ms of the timed calls], first round's
    answers in image order)."""
    target = urllib.parse.urlsplit(f"{acct.url}/customvision/v3.0/Prediction/{project}/{kind}/iterations/{name}/image/nostore")
    headers = {"Prediction-Key": acct.prediction_key, "Content-Type": "application/octet-stream"}
    conn = http.client.HTTPConnection(target.hostname, target.port)

    def call(data):
        nonlocal conn
        start = time.perf_counter()
        conn.request("POST", target.path, body=data, headers=headers)
        r = conn.getresponse()
        body = r.read()
        ms = (time.perf_counter() - start) * 1000
        if r.status != 200:
            raise RuntimeError(f"{kind}: HTTP {r.status} {body[:300]!r}")
        if r.will_close:
            conn.close()
            conn = http.client.HTTPConnection(target.hostname, target.port)
        return ms, json.loads(body)

    first_ms, _ = call(images[0][1])  # loads the published model
    times, answers = [], []
    for round_ in range(rounds):
        for _, data in images:
            ms, answer = call(data)
            times.append(ms)
            if round_ == 0:
                answers.append(answer)
    conn.close()
    return first_ms, times, answers


def p90(values):
    return statistics.quantiles(values, n=10, method="inclusive")[-1] if len(values) > 1 else values[0]


def median_or_none(values):
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def number(value):
    return "n/a" if value is None else f"{value:.3f}"


# ---- one measured training ----------------------------------------------------------------

def measure(kind, per_tag, run, train_images, test_images, rounds):
    """Fresh server; create, upload, train (timed), publish, predict loop, score."""
    detection = kind == "detection"
    server = BenchServer("sightline-detection-bench-")
    try:
        acct = Account(server)
        project, tag_ids = create_project(acct, f"{kind}-{per_tag}-per-tag-run{run}", detection, train_images)
        seconds, iteration = train(acct, project)
        publish(acct, project, iteration, "bench")
        held_out_ap = performance(acct, project, iteration)
        first_ms, times, answers = predict_loop(acct, project, "bench", "detect" if detection else "classify",
                                                test_images, rounds)
    finally:
        server.stop()
    result = {"seconds": seconds, "first_ms": first_ms, "times": times, "heldOutAP": held_out_ap}
    if detection:
        result["mAP"], result["perTagAP"] = detection_map(test_images, answers, tag_ids, TAGS)
    else:
        result["accuracy"] = classification_accuracy(test_images, answers, tag_ids)
    quality = (f"benchtest mAP@0.5 {result['mAP']:.3f} ({', '.join(f'{t} {a:.3f}' for t, a in result['perTagAP'].items())})"
               if detection else f"benchtest top-1 accuracy {result['accuracy']:.3f}")
    print(f"  {kind}, {per_tag} per tag ({2 * per_tag} images), run {run}: trained in {seconds:.1f} s; "
          f"first call {first_ms:.0f} ms, then median {statistics.median(times):.1f} ms, p90 {p90(times):.1f} ms; "
          f"{quality}; held-out AP (performance) {number(result['heldOutAP'])}", flush=True)
    return result


def summarise(runs):
    times = [t for r in runs for t in r["times"]]
    out = {"seconds": statistics.median(r["seconds"] for r in runs), "all_seconds": [r["seconds"] for r in runs],
           "median_ms": statistics.median(times), "p90_ms": p90(times), "requests": len(times),
           "heldOutAP": median_or_none([r["heldOutAP"] for r in runs]), "runs": len(runs)}
    if "mAP" in runs[0]:
        out["mAP"] = statistics.median(r["mAP"] for r in runs)
        out["all_mAP"] = [r["mAP"] for r in runs]
    else:
        out["accuracy"] = statistics.median(r["accuracy"] for r in runs)
    return out


def main():
    # A smoke run: the API's smallest detection project (15 per tag), once, on a few test images.
    sizes = sorted({int(s) for s in env_or("DETECTION_PER_TAG", "15,30", "15").split(",") if s.strip()})
    max_runs, repeat_under = env_int("TRAIN_RUNS", 3, 1), float(os.environ.get("REPEAT_UNDER_S", "120"))
    rounds = env_int("LATENCY_ROUNDS", 3, 1)
    if not sizes or sizes[0] < 1 or max_runs < 1 or rounds < 1:
        sys.exit("DETECTION_PER_TAG, TRAIN_RUNS and LATENCY_ROUNDS must be positive")
    entries = manifest()
    test_images = load([e for e in entries if e["split"] == "benchtest"][:4 if SMOKE else None])
    largest = sizes[-1]
    print(f"## Object detection benchmarks (release server, SQLite, ENGINE_WORKERS=1, {os.cpu_count()} CPUs)")
    print(f"Sizes are images per tag ({', '.join(f'{n} per tag = {2 * n} training images' for n in sizes)}); "
          f"evaluation on the {len(test_images)} benchtest composites, latency over {rounds} rounds of them.", flush=True)

    detection, reference, repeat_note = {}, None, ""
    for per_tag in sizes:
        train_images = bench_images(entries, per_tag)
        runs = [measure("detection", per_tag, 1, train_images, test_images, rounds)]
        if per_tag != largest:
            detection[per_tag] = summarise(runs)
            continue
        # The reference: the same images as a classification project, alternating with the detector's runs.
        ref_runs = [measure("classification", per_tag, 1, train_images, test_images, rounds)]
        if max_runs > 1 and runs[0]["seconds"] < repeat_under:
            for run in range(2, max_runs + 1):
                runs.append(measure("detection", per_tag, run, train_images, test_images, rounds))
                ref_runs.append(measure("classification", per_tag, run, train_images, test_images, rounds))
            repeat_note = (f"median of {max_runs} runs each (the first detection training took "
                           f"{runs[0]['seconds']:.1f} s < {repeat_under:.0f} s)")
        else:
            repeat_note = (f"1 run each (the first detection training took {runs[0]['seconds']:.1f} s"
                           + (f", not under {repeat_under:.0f} s)" if max_runs > 1 else "; TRAIN_RUNS=1)"))
        detection[per_tag] = summarise(runs)
        reference = summarise(ref_runs)

    print()
    print(f"Training time of {largest} per tag ({2 * largest} images) and its classification reference: {repeat_note}; "
          f"smaller sizes: 1 run. Every training on a fresh server (cold feature caches, backbone loaded by the job). "
          f"Latency: sequential raw-bytes nostore calls on one keep-alive connection, the first call after publishing "
          f"left out; runs of one size pooled.")
    for per_tag in sizes:
        d = detection[per_tag]
        print(f"Detection, {per_tag} per tag: training times {', '.join(f'{s:.1f}' for s in d['all_seconds'])} s; "
              f"benchtest mAP@0.5 {', '.join(f'{m:.3f}' for m in d['all_mAP'])}")
    print(f"Classification reference, {largest} per tag: training times "
          f"{', '.join(f'{s:.1f}' for s in reference['all_seconds'])} s")
    print()
    print("| Project (domain General (compact)) | Training images | Train → Completed (s) | Runs | Latency median (ms) "
          "| Latency p90 (ms) | Benchtest quality | Server held-out AP |")
    print("|---|---|---|---|---|---|---|---|")
    for per_tag in sizes:
        d = detection[per_tag]
        print(f"| Object detection | {2 * per_tag} ({per_tag} per tag) | {d['seconds']:.1f} | {d['runs']} | "
              f"{d['median_ms']:.1f} | {d['p90_ms']:.1f} | mAP@0.5 {d['mAP']:.3f} | {number(d['heldOutAP'])} |")
    r = reference
    print(f"| Classification (Multiclass, reference) | {2 * largest} ({largest} per tag) | {r['seconds']:.1f} | {r['runs']} | "
          f"{r['median_ms']:.1f} | {r['p90_ms']:.1f} | top-1 accuracy {r['accuracy']:.3f} | {number(r['heldOutAP'])} |")
    d = detection[largest]
    print(f"| Ratio detection / classification, {2 * largest} images | | {d['seconds'] / r['seconds']:.2f}× | | "
          f"{d['median_ms'] / r['median_ms']:.2f}× | {d['p90_ms'] / r['p90_ms']:.2f}× | | |")

    engine_section()


def engine_run(*args):
    """One `sightline-bench detect` run (release build), its JSON line."""
    bench = binary("sightline-bench")
    if not os.path.exists(bench):
        sys.exit("build it first: swift build -c release --product sightline-bench")
    smoke = ["--views", "4", "--samples", "128", "--max-samples", "128"] if SMOKE else []
    out = subprocess.run([bench, "detect", "--full", "1", *map(str, args), *smoke], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads([line for line in out.splitlines() if line.startswith("{")][-1])


def engine_section():
    counts = [int(s) for s in env_or("ENGINE_IMAGES", "15,30,60", "15").split(",") if s.strip()]
    inputs = [int(s) for s in env_or("FOREST_INPUTS", "416,608", "").split(",") if s.strip()]
    if counts:
        print()
        print("Engine alone (sightline-bench detect --full 1 --images N, release, 1 run each): held-out "
              "measurement then fine-tuning on all, as a training job; benchtest mAP@0.5.")
        print()
        print("| Training images | Backbone passes (s) | Head training (s) | Benchtest mAP@0.5 | Held-out mAP@0.5 | Detect median (ms) |")
        print("|---|---|---|---|---|---|")
        for n in counts:
            r = engine_run("--images", n)
            print(f"| {r['train_images']} | {r['extract_ms'] / 1000:.1f} | {r['fit_ms'] / 1000:.1f} | {r['map50']:.3f} | "
                  f"{number(r['held_out_map50'])} | {statistics.median(r['detect_ms']):.1f} |", flush=True)
    if inputs:
        print()
        print("Input size on DeepForest tiles (sightline-bench detect --forest 1 --full 1 --input N; "
              "27 training tiles, 9 unseen; 1 run each):")
        print()
        print("| Input | Grid | Backbone passes (s) | Head training (s) | mAP@0.5 on unseen tiles | Detect median (ms) |")
        print("|---|---|---|---|---|---|")
        for size in inputs:
            r = engine_run("--forest", 1, "--input", size)
            print(f"| {size} | {size // 32}×{size // 32} | {r['extract_ms'] / 1000:.1f} | {r['fit_ms'] / 1000:.1f} | "
                  f"{r['map50']:.3f} | {statistics.median(r['detect_ms']):.1f} |", flush=True)


if __name__ == "__main__":
    main()
