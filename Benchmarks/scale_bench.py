"""How the Training API's listings, counts and filters cost as a project grows (release
server, SQLite and PostgreSQL): one project grown to 1,000, 10,000 and 100,000 images with
10 tags, each call's median latency at every size, its ratio to the smallest size, upload
throughput at each size, `get_projects` for an account with 100 projects, and the server's
memory. Rows past the uploaded images are written straight into the database
(`scale_db.py`): uploading 100,000 images would take most of an hour and measure the
uploader, not the queries.

Usage: swift build -c release --product sightline
       .venv/bin/python Benchmarks/scale_bench.py                        # SQLite
       scripts/with-postgres.sh .venv/bin/python Benchmarks/scale_bench.py  # and PostgreSQL
Writes Benchmarks/scale-results.md (not in a smoke run)."""
import io
import os
import statistics
import sys
import time

from PIL import Image

from bench_mode import ROOT, SMOKE, sized
from bench_server import BenchServer
from scale_db import PostgresRows, SQLiteRows, rows, seed_rng

SIZES = sized([1_000, 10_000, 100_000], [60, 300])
REPS = sized(15, 3)
UPLOAD = sized(256, 16)  # images uploaded through the API at each size, for throughput
PROJECTS = sized(100, 5)
API = "/customvision/v3.4-preview/training"


def png(i):
    """A small image unique to `i` (lossless PNG with `i` in its first pixel, so never a duplicate)."""
    img = Image.new("RGB", (64, 64), ((i * 37) % 256, (i * 91) % 256, (i * 13) % 256))
    img.putpixel((0, 0), (i & 255, (i >> 8) & 255, (i >> 16) & 255))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def median_ms(call):
    times = []
    for _ in range(REPS):
        t0 = time.perf_counter()
        r = call()
        times.append((time.perf_counter() - t0) * 1000)
        assert r.status_code == 200, (r.status_code, r.text[:300])
    return statistics.median(times)


def rss_mb(pid):
    status = open(f"/proc/{pid}/status").read()
    return (int(status.split("VmRSS:")[1].split()[0]) // 1024, int(status.split("VmHWM:")[1].split()[0]) // 1024)


class Run:
    def __init__(self, database, url):
        self.database = database
        self.server = BenchServer("sightline-scale-", database_url=url)
        self.url = self.server.url
        self.db = PostgresRows(url) if url else SQLiteRows(os.path.join(self.server.data_dir, "sightline.sqlite"))
        # The operator lifts the limits this benchmark goes past (Azure's S0 allows 100,000).
        self.t = self.server.account("s@example.com", "scale", {
            "transactionsPerSecond": "unlimited", "trainingTransactionsPerSecond": "unlimited",
            "imagesPerProject": 200_000, "projects": 1_000})
        self.base = f"{self.url}{API}"
        r = self.t.post(f"{self.base}/projects?name=scale")
        assert r.status_code == 200, r.text
        self.project = r.json()["id"]
        self.tags = [self.t.post(f"{self.base}/projects/{self.project}/tags?name=t{n}").json()["id"] for n in range(10)]
        self.uploaded = 0
        self.images = 0
        self.rng = seed_rng()

    def upload(self, n):
        """Uploads `n` images in batches of 64; images per second."""
        t0 = time.perf_counter()
        for start in range(0, n, 64):
            files = [("files", (f"{i}.png", png(self.uploaded + i), "image/png")) for i in range(start, min(start + 64, n))]
            tag = self.tags[(self.uploaded + start) % len(self.tags)]
            r = self.t.post(f"{self.base}/projects/{self.project}/images?tagIds={tag}", files=files)
            assert r.status_code == 200 and r.json()["isBatchSuccessful"], r.text[:300]
        self.uploaded += n
        self.images += n
        return n / (time.perf_counter() - t0)

    def grow(self, size):
        if self.images >= size:
            return
        blob = self.t.get(f"{self.base}/projects/{self.project}/images?take=1").json()[0]
        hashes = {k: blob[key].split("/blobs/")[1].split("?")[0] for k, key in (("resized", "resizedImageUri"), ("thumbnail", "thumbnailUri"))}
        count = size - self.images
        for start in range(0, count, 20_000):
            n = min(20_000, count - start)
            images, links = rows(self.project.upper(), [t.upper() for t in self.tags], self.images, n, hashes,
                                 time.time() + 10 + self.images * 0.001, self.rng)
            self.db.insert(images, links)
            self.images += n
        self.db.analyze()

    def calls(self):
        p, tag, n = f"{self.base}/projects/{self.project}", self.tags[3], self.images
        return {
            "get_images, first page": lambda: self.t.get(f"{p}/images?take=256"),
            "get_images, middle page": lambda: self.t.get(f"{p}/images?take=256&skip={n // 2}"),
            "get_images, oldest first": lambda: self.t.get(f"{p}/images?take=256&orderBy=Oldest"),
            # Filtered listings ask for the SDK's default page of 50, which every size fills
            # (at 1,000 images one tag has about 90, untagged about 75, camera 'a' about 105),
            # so each size is timed returning the same number of images.
            "tagged, one tag (50)": lambda: self.t.get(f"{p}/images/tagged?take=50&tagIds={tag}"),
            "untagged (50)": lambda: self.t.get(f"{p}/images/untagged?take=50"),
            "$filter camera eq 'a' (50)": lambda: self.t.get(f"{p}/images?take=50&$filter=camera%20eq%20'a'"),
            "tagged, one tag, middle page (50)": lambda: self.t.get(f"{p}/images/tagged?take=50&tagIds={tag}&skip={n // 20}"),
            "image count": lambda: self.t.get(f"{p}/images/count"),
            "tagged count, one tag": lambda: self.t.get(f"{p}/images/tagged/count?tagIds={tag}"),
            "untagged count": lambda: self.t.get(f"{p}/images/untagged/count"),
            "get_tags": lambda: self.t.get(f"{p}/tags"),
            "skip past the end": lambda: self.t.get(f"{p}/images?take=256&skip=100000000"),
        }

    def projects_call(self):
        """`get_projects` once the account has PROJECTS projects, each with one image."""
        for i in range(PROJECTS - 1):
            r = self.t.post(f"{self.base}/projects?name=p{i}")
            assert r.status_code == 200, r.text[:300]
            files = [("files", ("a.png", png(900_000 + i), "image/png"))]
            assert self.t.post(f"{self.base}/projects/{r.json()['id']}/images", files=files).status_code == 200
        return median_ms(lambda: self.t.get(f"{self.base}/projects"))


def measure(database, url):
    run = Run(database, url)
    try:
        table, uploads, memory = {}, {}, {}
        for size in SIZES:
            uploads[size] = run.upload(UPLOAD)
            run.grow(size)
            for name, call in run.calls().items():
                table.setdefault(name, {})[size] = median_ms(call)
            memory[size] = rss_mb(run.server.proc.pid)
            print(f"{database} {size}: " + ", ".join(f"{k} {v[size]:.1f}" for k, v in table.items()), flush=True)
        projects = run.projects_call()
        return table, uploads, memory, projects, rss_mb(run.server.proc.pid)[1]
    finally:
        run.server.stop()


def report(results):
    small, big = SIZES[0], SIZES[-1]
    lines = ["# Scale: Training API calls as a project grows", "",
             f"Release build, one project of {', '.join(f'{s:,}' for s in SIZES)} images, 10 tags (nine in ten images tagged),",
             f"median of {REPS} calls each. Ratio: its cost at {big:,} images over its cost at {small:,}.",
             "Command: `.venv/bin/python Benchmarks/scale_bench.py` (SQLite); under `scripts/with-postgres.sh` for PostgreSQL too.", ""]
    for database, (table, uploads, memory, projects, peak) in results.items():
        lines += [f"## {database}", "", "| call | " + " | ".join(f"{s:,} images" for s in SIZES) + " | ratio |",
                  "|---|" + "---:|" * (len(SIZES) + 1)]
        for name, by_size in table.items():
            lines.append(f"| {name} | " + " | ".join(f"{by_size[s]:.1f} ms" for s in SIZES) + f" | {by_size[big] / by_size[small]:.2f}× |")
        lines.append("| upload (images/s, batches of 64) | " + " | ".join(f"{uploads[s]:.0f}" for s in SIZES)
                     + f" | {uploads[big] / uploads[small]:.2f}× |")
        lines.append("| server RSS now / peak (MB) | " + " | ".join(f"{memory[s][0]} / {memory[s][1]}" for s in SIZES) + " | |")
        lines += ["", f"`get_projects` with {PROJECTS} projects: {projects:.1f} ms (median). Server peak RSS over the run: {peak} MB.", ""]
    return "\n".join(lines)


def main():
    results = {"SQLite": measure("SQLite", "")}
    pg = os.environ.get("TEST_DATABASE_URL")
    if pg:
        results["PostgreSQL"] = measure("PostgreSQL", pg)
    text = report(results)
    print(text)
    if not SMOKE:
        with open(os.path.join(ROOT, "Benchmarks", "scale-results.md"), "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
