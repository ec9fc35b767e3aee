"""The pieces of the export checks that classification and detection share: unpacking an
export, comparing probabilities, and the DockerFile bundle (its Dockerfile's packages, and its
service started with the Dockerfile's own command on loopback)."""
import http.server
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import version

import onnx
import requests

from conftest import free_port

TOLERANCE = 1e-4


def unpack(archive):
    folder = tempfile.mkdtemp(prefix="sightline-export-")
    archive.extractall(folder)
    return folder


def compare(expected, got, where, tolerance=TOLERANCE):
    """expected/got: {tag name: probability}. Returns the largest difference."""
    assert set(expected) == set(got), where
    assert max(expected, key=expected.get) == max(got, key=got.get), (where, expected, got)
    diff = max(abs(expected[t] - got[t]) for t in expected)
    assert diff <= tolerance, (where, diff, expected, got)
    return diff


def check_dockerfile(folder):
    """Every package the Dockerfile names comes from Debian or from PyPI."""
    lines = open(os.path.join(folder, "Dockerfile")).read().replace("\\\n", " ").splitlines()
    froms = [[w for w in l.split()[1:] if not w.startswith("--platform=")][0] for l in lines if l.startswith("FROM ")]
    assert froms and all(f.startswith("debian:") for f in froms), froms
    apt = []
    for l in lines:
        if "apt-get install" in l:
            words = shlex.split(l.split("apt-get install", 1)[1].split("&&")[0])
            apt += [w for w in words if not w.startswith("-")]
    assert apt, "the Dockerfile installs no Debian packages"
    for package in apt:
        assert subprocess.run(["apt-cache", "show", package], capture_output=True).returncode == 0, package
    pip_lines = [l for l in lines if "pip install" in l]
    assert pip_lines and all("-r requirements.txt" in l for l in pip_lines), pip_lines
    for requirement in open(os.path.join(folder, "requirements.txt")).read().split():
        name, pinned = requirement.split("==")
        assert version(name) == pinned, requirement  # what this venv installed from PyPI
    cmd = [l for l in lines if l.startswith("CMD ")]
    assert len(cmd) == 1
    return json.loads(cmd[0][4:])


class BundleService:
    """The bundle's own start command, on loopback, with this venv's interpreter."""

    def __init__(self, folder, command):
        assert command[0] == "python3"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(folder, "service.log"), "wb")
        self.proc = subprocess.Popen([sys.executable] + command[1:], cwd=folder, stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, HOST="127.0.0.1", PORT=str(self.port)))
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, open(self.log.name).read()
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise AssertionError("the bundle's service did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=20)


def serve_files(folder):
    """A loopback file server for POST /url."""
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=folder)  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def check_bundle(archive, project, iteration, images, server_probabilities, trainer):
    folder = unpack(archive)
    command = check_dockerfile(folder)
    for name in ["model.onnx", "labels.txt", "manifest.json", "app.py", "preprocess.py", "README.md"]:
        assert os.path.exists(os.path.join(folder, name)), name
    assert "docker build" in open(os.path.join(folder, "README.md")).read()
    service = BundleService(folder, command)
    tag_ids = {t.name: t.id for t in trainer.get_tags(project.id)}
    try:
        worst = 0.0
        for n, data in enumerate(images):
            r = requests.post(service.url + "/image", data=data, headers={"Content-Type": "application/octet-stream"}, timeout=60)
            assert r.status_code == 200, r.text
            body = r.json()
            assert set(body) == {"id", "project", "iteration", "created", "predictions"}
            assert (body["project"], body["iteration"]) == (project.id, iteration.id)
            probabilities = [p["probability"] for p in body["predictions"]]
            assert probabilities == sorted(probabilities, reverse=True)
            assert all(tag_ids[p["tagName"]] == p["tagId"] for p in body["predictions"])
            got = {p["tagName"]: p["probability"] for p in body["predictions"]}
            worst = max(worst, compare(server_probabilities[n], got, f"bundle image {n}"))

        multipart = requests.post(service.url + "/image", files={"imageData": ("x.png", images[0], "image/png")}, timeout=60)
        assert multipart.status_code == 200, multipart.text
        compare(server_probabilities[0], {p["tagName"]: p["probability"] for p in multipart.json()["predictions"]}, "multipart")

        files = tempfile.mkdtemp(prefix="sightline-url-")
        with open(os.path.join(files, "picture.img"), "wb") as f:
            f.write(images[1])
        httpd = serve_files(files)
        try:
            by_url = requests.post(service.url + "/url", json={"url": f"http://127.0.0.1:{httpd.server_address[1]}/picture.img"},
                                   timeout=60)
        finally:
            httpd.shutdown()
        assert by_url.status_code == 200, by_url.text
        compare(server_probabilities[1], {p["tagName"]: p["probability"] for p in by_url.json()["predictions"]}, "url")

        bad = requests.post(service.url + "/image", data=b"not an image", timeout=60)
        assert bad.status_code == 400 and bad.json()["code"] == "BadRequestImageFormat", bad.text
        return worst
    finally:
        service.stop()


def check_arm_bundle(arm, linux):
    """The ARM flavor: the Linux bundle with its image built for arm64 (the service, model and
    packages are the same; Debian and PyPI build every one of them for arm64)."""
    assert sorted(arm.namelist()) == sorted(linux.namelist())
    for name in arm.namelist():
        if name not in ("Dockerfile", "model.onnx"):
            assert arm.read(name) == linux.read(name), name
    assert onnx.load_from_string(arm.read("model.onnx")).graph == onnx.load_from_string(linux.read("model.onnx")).graph
    froms = [l for l in arm.read("Dockerfile").decode().splitlines() if l.startswith("FROM ")]
    assert froms == ["FROM --platform=linux/arm64 debian:bookworm-slim"], froms
    assert arm.read("Dockerfile").decode().replace("--platform=linux/arm64 ", "") == linux.read("Dockerfile").decode()
    check_dockerfile(unpack(arm))
