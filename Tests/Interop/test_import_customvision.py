"""`sightline import-customvision`: a second Sightline server on loopback plays Azure. A
project of 3 tags and 60 images (some with several tags, regions, metadata) migrates
completely; a run killed halfway and started again ends with exactly one copy of every
image; a source answering 429 now and then still migrates; a target over its image limit
gets what fits and is told the rest; --train reports the copy's metrics beside the
source's."""
import hashlib
import io
import random
import signal
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch, ImageFileCreateEntry, Region)
from msrest.authentication import ApiKeyCredentials
from PIL import Image

from conftest import BINARY, ROOT, Server, admin_api, make_account
from test_portal_chromium import browser  # noqa: F401  (fixture)


def photo(seed):
    """A 640×480 noisy JPEG: big enough that decoding paces the import."""
    rnd = random.Random(seed)
    img = Image.effect_noise((640, 480), 40 + seed % 30).convert("RGB")
    img.paste((rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)), (rnd.randrange(400), rnd.randrange(300), 600, 460))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def client(acct):
    return CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))


def fingerprint(trainer, project_id):
    """Every image by content: its tag names, regions and metadata."""
    names = {t.id: t.name for t in trainer.get_tags(project_id)}
    out = {}
    for skip in range(0, 1000, 256):
        page = trainer.get_images(project_id, take=256, skip=skip)
        for i in page:
            digest = hashlib.sha256(requests.get(i.original_image_uri, timeout=30).content).hexdigest()
            out[digest] = (sorted(names[t.tag_id] for t in i.tags or []),
                           sorted((names[r.tag_id], round(r.left, 6), round(r.top, 6), round(r.width, 6), round(r.height, 6)) for r in i.regions or []),
                           sorted((i.metadata or {}).items()))
        if len(page) < 256:
            break
    return out


def run_import(target, *args, kill_at=None):
    cmd = [BINARY, "import-customvision", *args]
    # The log goes to a file: a pipe nobody reads would fill and stall the command.
    with tempfile.TemporaryFile("w+") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(target.env, LOG_LEVEL="info"), stdout=subprocess.PIPE, stderr=log, text=True)
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip())
            if kill_at and kill_at(line):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=300)
        log.seek(0)
        return proc.returncode, lines, log.read()[-3000:]


class ThrottlingProxy:
    """A loopback proxy in front of the source that answers the first request for each
    path with 429 (Retry-After: 1), as a busy Azure resource does now and then, and passes
    everything else on. The server paces a sequential caller rather than refusing it, so
    the source alone would never answer 429 to the importer."""

    def __init__(self, upstream):
        self.seen = seen = set()
        lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?")[0]
                with lock:
                    first = path not in seen
                    seen.add(path)
                if first:
                    body = b'{"code":"TooManyRequests","message":"Rate limit exceeded."}'
                    self.send_response(429)
                    self.send_header("Retry-After", "1")
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                r = requests.get(upstream + self.path, headers={k: v for k, v in self.headers.items() if k.lower() == "training-key"}, timeout=60)
                self.send_response(r.status_code)
                self.send_header("Content-Type", r.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        self.seen.clear()

    def stop(self):
        self.server.shutdown()


def test_import_customvision_from_a_loopback_source():
    source, target = Server(), Server()
    try:
        source.start()
        target.start()
        src_token, dst_token = source.create_admin(), target.create_admin()
        src_acct = make_account(source, src_token, "azure-user@example.com")
        trainer = client(src_acct)
        project = trainer.create_project("storefront", description="shelf photos", classification_type="Multilabel")
        tags = [trainer.create_tag(project.id, n, description=f"the {n}") for n in ("cans", "boxes", "bottles")]
        entries = []
        for i in range(60):
            tag_ids = [tags[i % 3].id] + ([tags[(i + 1) % 3].id] if i % 5 == 0 else [])
            regions = [Region(tag_id=tags[i % 3].id, left=0.1, top=0.15, width=0.5, height=0.4)] if i % 4 == 0 else None
            entries.append(ImageFileCreateEntry(name=f"{i}.jpg", contents=photo(i), tag_ids=tag_ids, regions=regions))
        for start in range(0, 60, 20):
            assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries[start:start + 20])).is_batch_successful
        ids = [i.id for i in trainer.get_images(project.id, take=256)]
        trainer.update_image_metadata(project.id, image_ids=ids[:7], metadata={"store": "north", "aisle": "3"})
        trainer.update_image_metadata(project.id, image_ids=ids[7:12], metadata={"store": "south"})
        iteration = trainer.train_project(project.id)
        while trainer.get_iteration(project.id, iteration.id).status == "Training":
            time.sleep(0.5)
        expected = fingerprint(trainer, project.id)
        assert len(expected) == 60
        # From now on the source allows 2 training calls a second, as a busy Azure resource might.
        admin_api(source, src_token, "PUT", f"accounts/{src_acct['id']}/overrides", json={"trainingTransactionsPerSecond": 2})

        dst_acct = make_account(target, dst_token, "moved@example.com", name="moved")
        # Through a proxy that answers 429 now and then. The images stay at the source's own
        # (loopback) address, which the command checks like any address other than the one it
        # was given: tests may allow loopback.
        proxy = ThrottlingProxy(source.url)
        target.env["SIGHTLINE_TEST_ALLOW_LOOPBACK_URLS"] = "1"
        args = ["--from", proxy.url, "--training-key", src_acct["trainingKeys"][0], "--account", dst_acct["id"], "--project", project.id]

        # Killed as soon as the first images have landed.
        def partly(line):
            done = line.split("]")[1].split("/")[0].strip() if "]" in line else "0"
            return done.isdigit() and 0 < int(done) < 60
        code, lines, err = run_import(target, *args, kill_at=partly)
        assert code == -signal.SIGKILL, (code, lines, err)
        copied = client(dst_acct)
        project_id = copied.get_projects()[0].id
        partial = copied.get_image_count(project_id)
        assert 0 < partial < 60, partial

        # Again, with --train; the proxy answers 429 again to the first call of each kind.
        proxy.reset()
        try:
            code, lines, err = run_import(target, *args, "--train")
        finally:
            proxy.stop()
            del target.env["SIGHTLINE_TEST_ALLOW_LOOPBACK_URLS"]
        assert code == 0, (lines, err)
        assert any("asked to slow down (429)" in l for l in lines), lines
        summary = next(l for l in lines if l.startswith("storefront"))
        assert f"{60 - partial} copied, {partial} already here, 0 did not fit, 0 failed, of 60" in summary, summary
        trained = next(l for l in lines if "trained:" in l)
        assert "precision" in trained and "source Iteration 1: precision" in trained, trained
        assert [p.id for p in copied.get_projects()] == [project_id], "the second run filled the same project"
        p = copied.get_project(project_id)
        assert (p.name, p.description, p.settings.classification_type) == ("storefront", "shelf photos", "Multilabel")
        assert {(t.name, t.description) for t in copied.get_tags(project_id)} == {(t.name, t.description) for t in tags}
        assert fingerprint(copied, project_id) == expected, "every image exactly once, with its tags, regions and metadata"

        # A target that holds 40 images per project gets 40 and is told about the other 20.
        small = make_account(target, dst_token, "small@example.com", name="small")
        admin_api(target, dst_token, "PUT", f"accounts/{small['id']}/overrides", json={"imagesPerProject": 40})
        code, lines, err = run_import(target, "--from", source.url, "--training-key", src_acct["trainingKeys"][0], "--account", small["id"])
        assert code != 0, lines
        summary = next(l for l in lines if l.startswith("storefront"))
        assert "40 copied, 0 already here, 20 did not fit" in summary, summary
        assert any("20 images did not fit" in l for l in lines), lines
        assert client(small).get_image_count(client(small).get_projects()[0].id) == 40
    finally:
        source.stop()
        target.stop()


def test_portal_import_from_custom_vision(browser):  # noqa: F811
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from portal_checks import PageAudit
    from test_portal_chromium import create_account, fill, submit_credentials, wait_url

    source, target = Server(), Server()
    # The source is on loopback, which only tests may fetch from.
    target.env["SIGHTLINE_TEST_ALLOW_LOOPBACK_URLS"] = "1"
    try:
        source.start()
        target.start()
        src_acct = make_account(source, source.create_admin(), "portal-source@example.com")
        trainer = client(src_acct)
        project = trainer.create_project("kitchen")
        tag = trainer.create_tag(project.id, "fork")
        entries = [ImageFileCreateEntry(name=f"{i}.jpg", contents=photo(100 + i), tag_ids=[tag.id] if i % 2 else None) for i in range(10)]
        assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful

        b = browser
        b.get(target.url + "/signup")
        submit_credentials(b, "importer@example.com", "importer-password")
        create_account(b, "landing")
        b.find_element(By.ID, "nav-import").click()
        wait_url(b, "/import")
        fill(b, "endpoint", source.url, form="import-source")
        fill(b, "trainingKey", src_acct["trainingKeys"][0], form="import-source")
        b.find_element(By.ID, "import-list").click()
        WebDriverWait(b, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input.import-project"))
        assert "kitchen" in b.find_element(By.ID, "import-projects").text
        # Post/redirect/get: the list is a page of its own, reloadable, with no key in it.
        assert "/import/projects/" in b.current_url
        assert src_acct["trainingKeys"][0] not in b.page_source
        b.refresh()
        WebDriverWait(b, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input.import-project"))
        audit = PageAudit(b, target.url)
        listing = b.current_url
        audit.check("import-projects", listing)
        b.get(listing)
        b.find_element(By.ID, "import-go").click()
        wait_url(b, "/import/runs/")
        # The page reloads itself until the run ends: an element found just before a reload is stale.
        WebDriverWait(b, 120, ignored_exceptions=[StaleElementReferenceException]).until(
            lambda d: "Finished." in d.find_element(By.ID, "import-status").text)
        row = b.find_element(By.ID, "import-run").text
        assert "Done" in row and "10 copied, 0 already here, 0 did not fit, 0 failed, of 10" in row, row
        audit.check("import-run", b.current_url)
        problems = audit.finish()
        assert not problems, "\n".join(problems)
        b.find_element(By.LINK_TEXT, "Open").click()
        wait_url(b, "/projects/")
        assert "kitchen" in b.find_element(By.TAG_NAME, "h1").text
        # The list is used up once its import starts.
        b.get(listing)
        assert "expired" in b.find_element(By.ID, "error").text

        # A wrong key is told in place, with the endpoint kept.
        b.get(target.url + "/import")
        fill(b, "endpoint", source.url, form="import-source")
        fill(b, "trainingKey", "not-a-key", form="import-source")
        b.find_element(By.ID, "import-list").click()
        WebDriverWait(b, 30).until(lambda d: d.find_elements(By.ID, "error"))
        assert "401" in b.find_element(By.ID, "error").text
        assert b.find_element(By.ID, "import-endpoint").get_attribute("value") == source.url
    finally:
        source.stop()
        target.stop()
