"""The Azure Python SDK drives Sightline's image data plane: 64-image batches from files
and from data, tagged/untagged reads, tagging, regions, deletion; URL ingestion from a
loopback server (allowed for tests only); a server killed mid-batch leaves no row
without its blob."""
import http.server
import io
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time

import requests
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch, ImageFileCreateEntry, ImageRegionCreateEntry, ImageTagCreateEntry,
    ImageUrlCreateBatch, ImageUrlCreateEntry)
from msrest.authentication import ApiKeyCredentials
from PIL import Image

from conftest import BINARY, ROOT, Server, make_account


def jpeg(seed, size=(96, 64)):
    rnd = random.Random(seed)
    img = Image.new("RGB", size, (rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)))
    for _ in range(20):
        x, y = rnd.randrange(size[0]), rnd.randrange(size[1])
        img.paste((rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)), (x, y, min(size[0], x + 9), min(size[1], y + 9)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def trainer_for(server, token, email, tier="S0"):
    acct = make_account(server, token, email, tier=tier)
    return acct, CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))


def test_sdk_image_data_plane(server):
    token = server.create_admin()
    _, trainer = trainer_for(server, token, "imgsdk@example.com")
    project = trainer.create_project("birds")
    robin = trainer.create_tag(project.id, "robin")
    wren = trainer.create_tag(project.id, "wren")

    entries = [ImageFileCreateEntry(name=f"{i}.jpg", contents=jpeg(i), tag_ids=[robin.id if i % 2 else wren.id])
               for i in range(64)]
    summary = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries))
    assert summary.is_batch_successful, [i.status for i in summary.images if i.status != "OK"][:3]
    assert len(summary.images) == 64 and all(i.image.width == 96 for i in summary.images)

    # The SDK sends one image per create_images_from_data call (bytes: no filename).
    for i in range(64, 128):
        s = trainer.create_images_from_data(project.id, jpeg(i))
        assert s.is_batch_successful and s.images[0].status == "OK"
    dup = trainer.create_images_from_data(project.id, jpeg(0))
    assert not dup.is_batch_successful and dup.images[0].status == "OKDuplicate"

    assert trainer.get_tagged_image_count(project.id) == 64
    assert trainer.get_untagged_image_count(project.id) == 64
    assert trainer.get_image_count(project.id) == 128
    tagged = trainer.get_tagged_images(project.id, tag_ids=[robin.id], take=256)
    assert len(tagged) == 32 and all(t.tags[0].tag_id == robin.id for t in tagged)
    untagged = trainer.get_untagged_images(project.id, take=100)
    assert len(untagged) == 64 and untagged[0].created >= untagged[-1].created
    # The signed URLs work for anyone holding them until they expire.
    assert requests.get(untagged[0].thumbnail_uri, timeout=10).headers["content-type"] == "image/jpeg"

    # Tag 10 untagged images, untag 5.
    ids = [u.id for u in untagged[:10]]
    r = trainer.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=i, tag_id=wren.id) for i in ids])
    assert len(r.created) == 10
    trainer.delete_image_tags(project.id, image_ids=ids[:5], tag_ids=[wren.id])
    assert trainer.get_tag(project.id, wren.id).image_count == 32 + 5

    # Regions.
    reg = trainer.create_image_regions(project.id, regions=[
        ImageRegionCreateEntry(image_id=ids[6], tag_id=robin.id, left=0.1, top=0.2, width=0.5, height=0.4)])
    assert len(reg.created) == 1 and reg.created[0].tag_name == "robin"
    image = trainer.get_images_by_ids(project.id, image_ids=[ids[6]])[0]
    assert abs(image.regions[0].width - 0.5) < 1e-9
    trainer.delete_image_regions(project.id, region_ids=[reg.created[0].region_id])
    assert not trainer.get_images_by_ids(project.id, image_ids=[ids[6]])[0].regions

    trainer.delete_images(project.id, image_ids=ids[:3])
    assert trainer.get_image_count(project.id) == 125
    trainer.delete_images(project.id, all_images=True)
    assert trainer.get_image_count(project.id) == 0


class _Files(http.server.BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):
        status, body, headers = self.routes.get(self.path, (404, b"", {}))
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_images_from_urls_on_loopback_with_the_test_allowance():
    files = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Files)
    threading.Thread(target=files.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{files.server_address[1]}"
    _Files.routes = {"/a.jpg": (200, jpeg(1), {"Content-Type": "image/jpeg"}),
                     "/moved": (302, b"", {"Location": base + "/a.jpg"}),
                     "/page": (200, b"<html></html>", {"Content-Type": "text/html"})}
    allowed = Server()
    allowed.env["SIGHTLINE_TEST_ALLOW_LOOPBACK_URLS"] = "1"
    strict = Server()
    try:
        allowed.start()
        strict.start()
        for s, expect_ok in [(allowed, True), (strict, False)]:
            token = s.create_admin()
            _, trainer = trainer_for(s, token, "urls@example.com")
            p = trainer.create_project("urls")
            batch = ImageUrlCreateBatch(images=[ImageUrlCreateEntry(url=base + path) for path in ["/a.jpg", "/moved", "/page", "/missing"]])
            result = trainer.create_images_from_urls(p.id, batch)
            statuses = [i.status for i in result.images]
            if expect_ok:
                assert statuses == ["OK", "ErrorSource", "ErrorImageFormat", "ErrorSource"], statuses
                assert result.images[0].source_url == base + "/a.jpg"
            else:
                assert statuses == ["ErrorSource"] * 4, statuses
    finally:
        allowed.stop()
        strict.stop()
        files.shutdown()


def test_killed_mid_batch_leaves_no_row_without_its_blob():
    s = Server().start()
    token = s.create_admin()
    acct = make_account(s, token, "kill@example.com")
    headers = {"Training-Key": acct["trainingKeys"][0]}
    url = f"{s.url}/customvision/v3.4-preview/training/projects"
    project = requests.post(url + "?name=kill", headers=headers, timeout=30).json()["id"]
    big = [jpeg(1000 + i, size=(1600, 1200)) for i in range(64)]

    def upload():
        try:
            files = [("imageData", (f"{i}.jpg", b, "application/octet-stream")) for i, b in enumerate(big)]
            requests.post(f"{url}/{project}/images", headers=headers, files=files, timeout=60)
        except requests.RequestException:
            pass

    t = threading.Thread(target=upload)
    t.start()
    # Kill once the batch has started writing blobs.
    blobs = os.path.join(s.data_dir, "blobs")
    deadline = time.time() + 30
    while time.time() < deadline:
        n = sum(len(f) for _, _, f in os.walk(blobs)) if os.path.isdir(blobs) else 0
        if n >= 6:
            break
        time.sleep(0.01)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    t.join()

    db = sqlite3.connect(os.path.join(s.data_dir, "sightline.sqlite"))
    rows = db.execute("SELECT original_hash, resized_hash, thumbnail_hash FROM images").fetchall()
    db.close()

    def exists(h):
        return os.path.exists(os.path.join(blobs, h[:2], h[2:4], h))

    assert all(exists(h) for row in rows for h in row)
    on_disk = sum(1 for _, _, f in os.walk(blobs) for name in f if len(name) == 64)
    assert on_disk > 0
    # The sweep removes the blobs no row references and keeps the others.
    out = subprocess.run([BINARY, "sweep-blobs", "--grace-seconds", "0"], cwd=ROOT, env=s.env,
                         capture_output=True, text=True, timeout=60, check=True)
    assert "Removed" in out.stdout
    left = {name for _, _, f in os.walk(blobs) for name in f if len(name) == 64}
    assert left == {h for row in rows for h in row}
