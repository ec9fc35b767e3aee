"""One tenant floods, another works: the other tenant's throughput and median latency
with and without each flood (issue 10, items 5-7). Release server on 127.0.0.1, SQLite,
bounded in time; the reference is the same workload without a flood, measured in the
same run.

Floods (each from one F0 or S0 account of the attacker):
* refused calls: 8 clients sending prediction calls past the F0 TPS limit at a project
  that does not exist (answered 429);
* heavy decodes: 2 clients uploading batches of 4 large, cheap-to-send PNGs (6000x6000);
* large bodies: 6 clients streaming 100 MB bodies of unknown length at once, and one
  multipart body of a million empty parts;
* issue 28: anonymous multipart requests with an empty boundary (they crashed the server),
  anonymous sign-in forms of 100,000 repeated fields (they froze it), smart-labeling
  queries over 300 untagged images, and legal 64 × 6 MB multipart batches.

The victim runs 2 clients of `GET /projects` (S0, TPS limit lifted) and one `/healthz`.
The flood clients run in a process of their own at `FLOOD_NICE` (default 19): on one
2-core machine the attacker's Python clients would otherwise take the CPU the server
needs, which says nothing about the server. `FLOOD_NICE=0` measures that too.

Usage: swift build -c release --product sightline; .venv/bin/python Benchmarks/flood_bench.py
"""
import concurrent.futures
import io
import multiprocessing
import os
import statistics
import sys
import threading
import time

import requests
from PIL import Image

from bench_mode import env_or, sized
from bench_server import BenchServer

SECONDS = float(env_or("FLOOD_SECONDS", 8, 0.5))
LEAD = sized(2, 0.5)  # the flood starts this much before the victim's window and ends after it
UNTAGGED = sized(300, 20)  # images the smart-labeling flood suggests for
BATCH_PARTS = sized(64, 2)  # 6 MB parts per multipart batch
NICE = int(os.environ.get("FLOOD_NICE", "19"))
RATE = float(os.environ.get("VICTIM_RATE", "0"))
SERVER_PID = [0]


def victim(url, key, seconds):
    """Two clients of GET /projects and one of /healthz for `seconds`; returns (req/s, p50 ms, healthz p50 ms, healthz max ms).
    With VICTIM_RATE the clients keep to that many calls per second together, as a tenant
    with real work does; without it they call as fast as they can (and so share the CPU)."""
    stop = time.monotonic() + seconds
    latencies, health = [], []
    lock = threading.Lock()

    def projects():
        s = requests.Session()
        s.headers["Training-Key"] = key
        interval = 2 / RATE if RATE else 0
        due = time.monotonic()
        while time.monotonic() < stop:
            t = time.perf_counter()
            r = s.get(f"{url}/customvision/v3.4-preview/training/projects", timeout=120)
            assert r.status_code == 200, r.text
            with lock:
                latencies.append(time.perf_counter() - t)
            if interval:
                due += interval
                time.sleep(max(0, due - time.monotonic()))

    def healthz():
        s = requests.Session()
        while time.monotonic() < stop:
            t = time.perf_counter()
            s.get(f"{url}/healthz", timeout=120)
            health.append(time.perf_counter() - t)
            time.sleep(0.2)

    start = time.perf_counter()
    threads = [threading.Thread(target=projects) for _ in range(2)] + [threading.Thread(target=healthz)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, statistics.median(latencies) * 1000, statistics.median(health) * 1000, max(health) * 1000


def flood(target, clients, seconds):
    """Runs `target(stop_time)` in `clients` threads; returns how many calls they made."""
    stop = time.monotonic() + seconds
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return sum(pool.map(lambda _: target(stop), range(clients)))


PNG_SIDE = sized(6000, 1000)


def large_png():
    # A smooth gradient: 36 megapixels that compress to well under the 6 MB limit.
    img = Image.linear_gradient("L").resize((PNG_SIDE, PNG_SIDE)).convert("RGB")
    buf = io.BytesIO()
    img.save(buf, "PNG", optimize=False, compress_level=9)
    return buf.getvalue()


def main():
    server = BenchServer("sightline-flood-")
    url, admin = server.url, server.admin
    SERVER_PID[0] = server.proc.pid
    rows = []
    try:

        def account(email, tier):
            requests.post(f"{url}/admin/api/users", json={"email": email, "password": "password-123"}, headers=admin)
            return requests.post(f"{url}/admin/api/accounts", json={"ownerEmail": email, "name": "tenant-" + email.split("@")[0], "tier": tier},
                                 headers=admin).json()
        good = account("victim@example.com", "S0")
        requests.put(f"{url}/admin/api/accounts/{good['id']}/overrides", json={"transactionsPerSecond": "unlimited", "trainingTransactionsPerSecond": "unlimited"},
                     headers=admin).raise_for_status()
        bad_free = account("flood@example.com", "F0")
        bad = account("flood2@example.com", "S0")
        gkey = good["trainingKeys"][0]
        for i in range(5):
            requests.post(f"{url}/customvision/v3.4-preview/training/projects?name=p{i}", headers={"Training-Key": gkey})
        base = f"{url}/customvision/v3.4-preview/training"
        bkey = bad["trainingKeys"][0]
        bproject = requests.post(f"{base}/projects?name=flood", headers={"Training-Key": bkey}).json()["id"]

        victim(url, gkey, sized(2, 0.5))  # warm up
        before = cpu_seconds(server.proc.pid)
        rows.append(("no flood (reference)", *victim(url, gkey, SECONDS), 0, cpu_seconds(server.proc.pid) - before))

        # Item 7: refused calls.
        predict = f"{url}/customvision/v3.1/prediction/00000000-0000-0000-0000-000000000000/classify/iterations/x/image"

        def refused(stop):
            s = requests.Session()
            s.headers.update({"Prediction-Key": bad_free["predictionKeys"][0], "Content-Type": "application/octet-stream"})
            n = 0
            while time.monotonic() < stop:
                s.post(predict, data=b"x", timeout=60)
                n += 1
            return n
        rows.append(run_flood(url, gkey, "refused calls (8 clients, F0 key past its TPS)", refused, 8))

        # Item 5: heavy decodes.
        png = large_png()
        boundary = "floodboundary"
        body = b"".join(f"--{boundary}\r\nContent-Disposition: form-data; name=\"imageData\"; filename=\"{i}.png\"\r\n\r\n".encode()
                        + png + (b"%d" % i) + b"\r\n" for i in range(4)) + f"--{boundary}--\r\n".encode()

        def decodes(stop):
            n = 0
            while time.monotonic() < stop:
                requests.post(f"{base}/projects/{bproject}/images", data=body, timeout=300,
                              headers={"Training-Key": bkey, "Content-Type": f"multipart/form-data; boundary={boundary}"})
                n += 1
            return n
        rows.append(run_flood(url, gkey, f"heavy decodes (2 clients, 4 × {PNG_SIDE}×{PNG_SIDE} PNG of {len(png) // 1024} KB)", decodes, 2))

        # Item 6: large bodies.
        chunk = b"\0" * (1 << 20)

        def bodies(stop):
            n = 0
            while time.monotonic() < stop:
                def gen():
                    for _ in range(100):
                        yield chunk
                try:
                    requests.post(f"{base}/projects/{bproject}/images", data=gen(), timeout=300,
                                  headers={"Training-Key": bkey, "Content-Type": "application/octet-stream"})
                except requests.RequestException:
                    pass  # refused mid-body: the server closes the connection
                n += 1
            return n
        rows.append(run_flood(url, gkey, "large bodies (6 clients, 100 MB streamed each)", bodies, 6))

        empty_parts = b"--b\r\n\r\n\r\n" * 1_000_000 + b"--b--\r\n"

        def parts(stop):
            n = 0
            while time.monotonic() < stop:
                requests.post(f"{base}/projects/{bproject}/images", data=empty_parts, timeout=300,
                              headers={"Training-Key": bkey, "Content-Type": "multipart/form-data; boundary=b"})
                n += 1
            return n
        rows.append(run_flood(url, gkey, "a million empty parts (1 client, 10 MB body)", parts, 1))
        # Issue 28, item 1: one anonymous request with an empty boundary used to kill the server.
        def empty_boundary(stop):
            s = requests.Session()
            n = 0
            while time.monotonic() < stop:
                for path in ("/signin", f"/customvision/v3.3/training/projects/{bproject}/images"):
                    r = s.post(url + path, data=b"x", headers={"Content-Type": "multipart/form-data; boundary=", "Training-Key": bkey}, timeout=60)
                    assert r.status_code == 400, r.status_code
                    n += 1
            return n
        rows.append(run_flood(url, gkey, "empty multipart boundaries (4 clients, anonymous and keyed)", empty_boundary, 4))

        # Item 2: 100,000 repeated fields took Vapor's form decoder a minute of CPU.
        repeated = "&".join(["a=1"] * 100_000)

        def many_fields(stop):
            s = requests.Session()
            n = 0
            while time.monotonic() < stop:
                r = s.post(f"{url}/signin", data=repeated, headers={"Content-Type": "application/x-www-form-urlencoded"}, timeout=120)
                assert r.status_code in (400, 413), r.status_code
                n += 1
            return n
        rows.append(run_flood(url, gkey, "sign-in forms of 100,000 repeated fields (4 clients, anonymous)", many_fields, 4))

        # Item 5: smart labeling over many untagged images, from a trained project.
        sproject, siteration = suggestion_project(base, bkey)

        def suggestions(stop):
            s = requests.Session()
            s.headers["Training-Key"] = bkey
            n = 0
            while time.monotonic() < stop:
                r = s.post(f"{base}/projects/{sproject}/images/suggested?iterationId={siteration}", json={"maxCount": 256}, timeout=120)
                assert r.status_code in (200, 429), r.text
                n += 1
            return n
        rows.append(run_flood(url, gkey, f"smart-labeling queries (2 clients, {UNTAGGED} untagged images)", suggestions, 2))

        # Item 7: legal 64 × 6 MB batches, parsed at about 1 MB/s on the event loop before.
        batch = b"".join(b"--bb\r\nContent-Disposition: form-data; name=\"imageData\"; filename=\"x\"\r\n\r\n"
                         + os.urandom(6 * 1024 * 1024 - 4096) + b"\r\n" for _ in range(BATCH_PARTS)) + b"--bb--\r\n"

        def batches(stop):
            n = 0
            while time.monotonic() < stop:
                try:
                    requests.post(f"{base}/projects/{bproject}/images", data=batch, timeout=600,
                                  headers={"Training-Key": bkey, "Content-Type": "multipart/form-data; boundary=bb"})
                except requests.RequestException:
                    pass  # a third large body is refused before it is read
                n += 1
            return n
        rows.append(run_flood(url, gkey, f"multipart batches of {BATCH_PARTS} × 6 MB (4 clients, {len(batch) >> 20} MB each)", batches, 4))
        rss = int(open(f"/proc/{server.proc.pid}/status").read().split("VmHWM:")[1].split()[0]) // 1024
    finally:
        server.stop()

    ref = rows[0][1]
    pace = f"paced at {RATE:g} calls/s" if RATE else "as fast as they can"
    print(f"## One tenant floods, another works (release server, SQLite, 2 victim clients of GET /projects {pace}, "
          f"flood clients at nice {NICE})")
    print("| flood | victim req/s | victim p50 ms | /healthz p50 ms | /healthz max ms | victim throughput vs no flood | flood calls | server CPU s |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rate, p50, health, health_max, calls, cpu in rows:
        print(f"| {name} | {rate:.1f} | {p50:.1f} | {health:.1f} | {health_max:.1f} | {rate / ref:.2f} | {calls or ''} | {cpu:.1f} |")
    print(f"Server peak RSS over the run: {rss} MB")


def suggestion_project(base, key):
    """A classification project trained on 10 tagged images, with UNTAGGED untagged ones to suggest for."""
    h = {"Training-Key": key}
    project = requests.post(f"{base}/projects?name=smart", headers=h).json()["id"]
    tags = [requests.post(f"{base}/projects/{project}/tags?name={n}", headers=h).json()["id"] for n in ("red", "blue")]

    def jpeg(rgb, i):
        img = Image.new("RGB", (96, 96), rgb)
        img.putpixel((i % 96, i // 96 % 96), (i % 256, 7, 9))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95)
        return buf.getvalue()

    def upload(images, tag=None):
        for start in range(0, len(images), 64):
            files = [("imageData", (f"{i}.jpg", data, "image/jpeg")) for i, data in enumerate(images[start:start + 64])]
            url = f"{base}/projects/{project}/images" + (f"?tagIds={tag}" if tag else "")
            requests.post(url, files=files, headers=h, timeout=120).raise_for_status()
    upload([jpeg((200 + i, 20, 20), i) for i in range(5)], tags[0])
    upload([jpeg((20, 20, 200 + i), i) for i in range(5)], tags[1])
    upload([jpeg((i % 256, 100, 255 - i % 256), 1000 + i) for i in range(UNTAGGED)])
    iteration = requests.post(f"{base}/projects/{project}/train", headers=h).json()["id"]
    while requests.get(f"{base}/projects/{project}/iterations/{iteration}", headers=h).json()["status"] == "Training":
        time.sleep(1)
    return project, iteration


def cpu_seconds(pid):
    """User + system CPU time the server has used so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_flood(url, gkey, name, target, clients):
    """The flood runs in a process of its own at `FLOOD_NICE` (the attacker's CPU is not
    the server's; on this one machine the nice value stands for that), the victim here."""
    calls = multiprocessing.Value("i", 0)

    def attacker():
        os.nice(NICE)
        calls.value = flood(target, clients, SECONDS + LEAD)
    proc = multiprocessing.get_context("fork").Process(target=attacker)
    before, began = cpu_seconds(SERVER_PID[0]), time.monotonic()
    proc.start()
    time.sleep(LEAD / 2)
    measured = victim(url, gkey, SECONDS)
    proc.join()
    print(f"  {name}: {time.monotonic() - began:.1f} s", file=sys.stderr, flush=True)
    return (name, *measured, calls.value, cpu_seconds(SERVER_PID[0]) - before)


if __name__ == "__main__":
    main()
