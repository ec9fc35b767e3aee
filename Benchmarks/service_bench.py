"""Service-level benchmarks (release server, outside CI), reported next to the engine's
own numbers measured in the same session:

* training 10 tags × 50 images through the API and the job queue, cold feature cache;
* retraining after adding 5 images (features cached in the database);
* prediction throughput of classify_image with 8 concurrent clients, against the
  engine's single-process feature extraction on the same image (sightline-bench).

Usage: swift build -c release --product sightline --product sightline-bench;
       .venv/bin/python Benchmarks/service_bench.py
"""
import base64
import concurrent.futures
import io
import http.client
import json
import os
import statistics
import subprocess
import time
import urllib.parse

import requests
from PIL import Image

from bench_mode import binary, env_or, sized
from bench_server import ROOT, BenchServer

BENCH = binary("sightline-bench")
TAGS, PER_TAG = sized(10, 3), sized(50, 5)  # 5: the fewest images per tag training takes
DATA = os.path.join(ROOT, ".cache", "datasets", "fashion-mnist")


def fashion_by_class(per_class, skip=0):
    with open(os.path.join(DATA, "train-images-idx3-ubyte"), "rb") as f:
        images = f.read()
    with open(os.path.join(DATA, "train-labels-idx1-ubyte"), "rb") as f:
        labels = f.read()[8:]
    out = {c: [] for c in range(10)}
    seen = {c: 0 for c in range(10)}
    for i, l in enumerate(labels):
        seen[l] += 1
        if seen[l] <= skip or len(out[l]) >= per_class:
            continue
        img = Image.frombytes("L", (28, 28), images[16 + i * 784:16 + (i + 1) * 784]).resize((224, 224), Image.BICUBIC)
        buf = io.BytesIO()
        img.convert("RGB").save(buf, "PNG")
        out[l].append(buf.getvalue())
        if all(len(v) >= per_class for v in out.values()):
            break
    return out


def created(response):
    """The id of what a create call made; its error in full if it made nothing."""
    assert response.status_code == 200, (response.status_code, response.text[:300])
    return response.json()["id"]


def main():
    server = BenchServer("sightline-bench-")
    url = server.url
    try:
        admin = server.admin
        requests.post(f"{url}/admin/api/users", json={"email": "u@example.com", "password": "password-123"}, headers=admin).raise_for_status()
        acct = requests.post(f"{url}/admin/api/accounts", json={"ownerEmail": "u@example.com", "name": "bench", "tier": "S0"},
                             headers=admin).json()
        # The operator lifts the tier's prediction and training rates for this account: the
        # benchmark measures capacity, and sets up faster than 10 training calls a second.
        requests.put(f"{url}/admin/api/accounts/{acct['id']}/overrides",
                     json={"transactionsPerSecond": "unlimited", "trainingTransactionsPerSecond": "unlimited"},
                     headers=admin).raise_for_status()
        t = requests.Session()
        t.headers["Training-Key"] = acct["trainingKeys"][0]
        base = f"{url}/customvision/v3.4-preview/training"
        project = created(t.post(f"{base}/projects?name=bench&classificationType=Multiclass"))
        tags = [created(t.post(f"{base}/projects/{project}/tags?name=c{c}")) for c in range(TAGS)]
        images = fashion_by_class(PER_TAG)
        entries = [{"contents": base64.b64encode(d).decode(), "tagIds": [tags[c]]} for c in range(TAGS) for d in images[c]]
        for i in range(0, len(entries), 64):
            r = t.post(f"{base}/projects/{project}/images/files", json={"images": entries[i:i + 64]})
            assert r.status_code == 200, r.text[:200]

        def train():
            start = time.perf_counter()
            r = t.post(f"{base}/projects/{project}/train")
            assert r.status_code == 200, r.text[:300]
            it = r.json()
            while it["status"] == "Training":
                time.sleep(0.05)
                it = t.get(f"{base}/projects/{project}/iterations/{it['id']}").json()
            assert it["status"] == "Completed", it
            return time.perf_counter() - start, it["id"]

        cold, _ = train()
        more = fashion_by_class(1, skip=PER_TAG)
        extra = [{"contents": base64.b64encode(more[c][0]).decode(), "tagIds": [tags[c]]} for c in range(min(5, TAGS))]
        assert t.post(f"{base}/projects/{project}/images/files", json={"images": extra}).status_code == 200
        warm, iteration = train()

        assert t.post(f"{base}/projects/{project}/iterations/{iteration}/publish",
                      params={"publishName": "m", "predictionId": acct["resourceId"]}).text == "true"
        test_image = fashion_by_class(1, skip=60)[3][0]
        predict_url = f"{url}/customvision/v3.1/prediction/{project}/classify/iterations/m/image/nostore"
        key = acct["predictionKeys"][0]
        requests.post(predict_url, data=test_image, headers={"Prediction-Key": key, "Content-Type": "application/octet-stream"}).raise_for_status()
        total = int(env_or("CLASSIFY_REQUESTS", 480, 16))

        # The load generator shares the server's two cores: plain keep-alive connections
        # (http.client) cost it a fraction of what requests' sessions do.
        target = urllib.parse.urlsplit(predict_url)
        headers = {"Prediction-Key": key, "Content-Type": "application/octet-stream"}

        def client(n):
            conn = http.client.HTTPConnection(target.hostname, target.port)
            for _ in range(n):
                conn.request("POST", target.path, body=test_image, headers=headers)
                r = conn.getresponse()
                body = r.read()
                assert r.status == 200, body[:200]
            conn.close()
        # The bare engine doing the same work (decode, preprocess, forward, head) with the
        # server's engine threads (two pool threads of ENGINE_THREADS each), measured in
        # rounds alternating with the service while the server idles.
        image_path = os.path.join(ROOT, ".cache", "bench", "classify-test-image.png")
        os.makedirs(os.path.dirname(image_path), exist_ok=True)
        with open(image_path, "wb") as f:
            f.write(test_image)
        threads = str(max(1, (os.cpu_count() or 2) // 2))
        service_rates, engine_rates = [], []
        for _ in range(int(env_or("BENCH_ROUNDS", 5, 1))):
            start = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                list(pool.map(client, [total // 8] * 8))
            service_rates.append(total / (time.perf_counter() - start))
            engine = json.loads(subprocess.run([BENCH, "pipeline", "--images", str(sized(60, 4)), "--jobs", "2", "--threads", threads,
                                                "--image", image_path], cwd=ROOT, capture_output=True, text=True,
                                               check=True).stdout.strip().splitlines()[-1])
            engine_rates.append(engine["images_per_second"])
    finally:
        server.stop()

    service_rate, engine_rate = statistics.median(service_rates), statistics.median(engine_rates)
    print("## Service benchmarks (release server, SQLite, ENGINE_WORKERS=1)")
    print(f"Training {TAGS} tags × {PER_TAG} images through the API, cold feature cache: {cold:.1f} s")
    print(f"Retraining after adding 5 images: {warm:.1f} s")
    print(f"classify_image, 8 concurrent clients: {service_rate:.1f} images/s (median of {len(service_rates)} rounds); "
          f"the bare engine on the same image (decode, preprocess, forward; 2 jobs × {threads} thread), in the same rounds: "
          f"{engine_rate:.1f} images/s; ratio {service_rate / engine_rate:.2f}")


if __name__ == "__main__":
    main()
