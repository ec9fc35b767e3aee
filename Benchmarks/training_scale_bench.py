"""How Quick training grows with a project (release server, SQLite): Fashion-MNIST images,
10 tags, one project trained at each size; the time from the train request to Completed,
the server's peak memory during the training, and a retrain after adding 100 images
(the features of the others come from the cache). Each size is a fresh project, so each
first training computes every image's features.

Usage: swift build -c release --product sightline; scripts/datasets-ensure.sh
       .venv/bin/python Benchmarks/training_scale_bench.py [SIZE ...]   # default 1000 10000
Writes Benchmarks/training-scale-results.md (not in a smoke run)."""
import concurrent.futures
import io
import os
import sys
import threading
import time

from PIL import Image

from bench_mode import ROOT, SMOKE, sized
from bench_server import BenchServer

API = "/customvision/v3.4-preview/training"
DATA = os.path.join(ROOT, ".cache", "datasets", "fashion-mnist")
ADDED = sized(100, 4)


class Fashion:
    """Fashion-MNIST training images at 64×64 as PNG, each handed out once, the classes in turn."""

    def __init__(self):
        with open(os.path.join(DATA, "train-images-idx3-ubyte"), "rb") as f:
            self.images = f.read()
        with open(os.path.join(DATA, "train-labels-idx1-ubyte"), "rb") as f:
            labels = f.read()[8:]
        self.queues = [[i for i, l in enumerate(labels) if l == c] for c in range(10)]
        self.taken = 0

    def take(self, count):
        """(label, PNG bytes) of `count` unseen images, as many of each class as can be."""
        out = []
        for n in range(self.taken, self.taken + count):
            label = n % 10
            i = self.queues[label][n // 10]
            img = Image.frombytes("L", (28, 28), self.images[16 + i * 784:16 + (i + 1) * 784]).resize((64, 64), Image.BICUBIC)
            buf = io.BytesIO()
            img.save(buf, "PNG")
            out.append((label, buf.getvalue()))
        self.taken += count
        return out


class PeakMemory:
    """The server's largest resident set while it runs (sampled every 0.1 s)."""

    def __init__(self, pid):
        self.pid, self.peak, self.stop = pid, 0, threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self):
        while not self.stop.is_set():
            status = open(f"/proc/{self.pid}/status").read()
            self.peak = max(self.peak, int(status.split("VmRSS:")[1].split()[0]) // 1024)
            time.sleep(0.1)

    def end(self):
        self.stop.set()
        self.thread.join()
        return self.peak


class Project:
    def __init__(self, server, session, name):
        self.s, self.base = session, f"{server.url}{API}"
        r = self.s.post(f"{self.base}/projects?name={name}")
        assert r.status_code == 200, r.text
        self.id = r.json()["id"]
        self.tags = [self.s.post(f"{self.base}/projects/{self.id}/tags?name=class{n}").json()["id"] for n in range(10)]

    def upload(self, images):
        by_tag = {}
        for label, data in images:
            by_tag.setdefault(label, []).append(data)
        batches = [(label, datas[i:i + 64]) for label, datas in by_tag.items() for i in range(0, len(datas), 64)]

        def send(batch):
            label, datas = batch
            files = [("files", (f"{n}.png", d, "image/png")) for n, d in enumerate(datas)]
            r = self.s.post(f"{self.base}/projects/{self.id}/images?tagIds={self.tags[label]}", files=files)
            assert r.status_code == 200 and r.json()["isBatchSuccessful"], r.text[:300]

        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(send, batches))

    def train(self, pid):
        """Seconds from the train request to Completed, and the server's peak RSS meanwhile."""
        memory = PeakMemory(pid)
        t0 = time.perf_counter()
        r = self.s.post(f"{self.base}/projects/{self.id}/train?forceTrain=true")
        assert r.status_code == 200, r.text
        iteration = r.json()["id"]
        while True:
            status = self.s.get(f"{self.base}/projects/{self.id}/iterations/{iteration}").json()["status"]
            if status != "Training":
                break
            time.sleep(0.2)
        seconds = time.perf_counter() - t0
        peak = memory.end()
        assert status == "Completed", status
        return seconds, peak


def main():
    sizes = [int(a) for a in sys.argv[1:]] or sized([1_000, 10_000], [50])
    server = BenchServer("sightline-training-scale-")
    session = server.account("t@example.com", "train", {
        "transactionsPerSecond": "unlimited", "trainingTransactionsPerSecond": "unlimited",
        "imagesPerProject": 200_000, "iterationsPerProject": 100})
    rows, fashion = [], Fashion()
    try:
        for size in sizes:
            project = Project(server, session, f"train-{size}")
            t0 = time.perf_counter()
            project.upload(fashion.take(size))
            upload_s = time.perf_counter() - t0
            first, first_peak = project.train(server.proc.pid)
            project.upload(fashion.take(ADDED))
            again, again_peak = project.train(server.proc.pid)
            rows.append((size, upload_s, first, first_peak, again, again_peak))
            print(f"{size} images: upload {upload_s:.0f} s, train {first:.1f} s (peak {first_peak} MB), "
                  f"+{ADDED} retrain {again:.1f} s (peak {again_peak} MB)", flush=True)
    finally:
        server.stop()
    table = ["| images | first training | peak RSS | retrain after +%d | peak RSS |" % ADDED, "|---:|---:|---:|---:|---:|"]
    table += [f"| {s:,} | {f:.1f} s | {fp} MB | {a:.1f} s | {ap} MB |" for s, _, f, fp, a, ap in rows]
    print("\n".join(table))
    if not SMOKE:
        with open(os.path.join(ROOT, "Benchmarks", "training-scale-results.md"), "w") as out:
            out.write("# Quick training as a project grows\n\n`.venv/bin/python Benchmarks/training_scale_bench.py`, "
                      "release build, SQLite, Fashion-MNIST at 64×64, 10 tags.\n\n" + "\n".join(table) + "\n")


if __name__ == "__main__":
    main()
