"""Training jobs survive a killed server and are never run twice by two processes."""
import os
import signal
import sqlite3
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import PG_URL, Server, fresh_postgres_database, make_account
from test_quickstart_classification import fashion


def api(server, key):
    base = f"{server.url}/customvision/v3.3/training"
    s = requests.Session()
    s.headers["Training-Key"] = key
    return base, s


def project_with_images(server, key, per_class=10, name="jobs"):
    base, s = api(server, key)
    p = s.post(f"{base}/projects?name={name}&classificationType=Multiclass", timeout=30).json()["id"]
    tags = [s.post(f"{base}/projects/{p}/tags?name={t}", timeout=30).json()["id"] for t in ("boot", "trouser")]
    import base64
    images = [{"contents": base64.b64encode(d).decode(), "tagIds": [tags[0]]} for d in fashion("train", 9, per_class)]
    images += [{"contents": base64.b64encode(d).decode(), "tagIds": [tags[1]]} for d in fashion("train", 1, per_class)]
    for i in range(0, len(images), 64):
        r = s.post(f"{base}/projects/{p}/images/files", json={"images": images[i:i + 64]}, timeout=120)
        assert r.status_code == 200, r.text[:300]
    return p


def wait_for(server, key, project, iteration, timeout=240):
    base, s = api(server, key)
    deadline = time.time() + timeout
    while time.time() < deadline:
        it = s.get(f"{base}/projects/{project}/iterations/{iteration}", timeout=30).json()
        if it["status"] != "Training":
            return it
        time.sleep(0.5)
    raise AssertionError("iteration still Training")


def test_killed_while_training_then_restarted_completes():
    first = Server()
    first.env["ENGINE_HEARTBEAT_SECONDS"] = "0.5"
    first.start()
    token = first.create_admin()
    acct = make_account(first, token, "killjob@example.com")
    key = acct["trainingKeys"][0]
    project = project_with_images(first, key, per_class=40)
    base, s = api(first, key)
    iteration = s.post(f"{base}/projects/{project}/train", timeout=30).json()["id"]
    db = os.path.join(first.data_dir, "sightline.sqlite")
    # Killed once the job has done some of the work (progress above 0), not after a guess
    # at how long that takes.
    deadline = time.time() + 120
    while True:
        assert time.time() < deadline, "the training job never got under way"
        with sqlite3.connect(db) as c:
            if c.execute("SELECT count(*) FROM jobs j JOIN iterations i ON i.id = j.iteration_id "
                         "WHERE j.state = 'running' AND i.status = 'Training' AND i.progress BETWEEN 1 AND 99").fetchone()[0]:
                break
        time.sleep(0.02)
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT status FROM iterations").fetchone()[0] == "Training"

    second = Server(data_dir=first.data_dir)
    second.env["ENGINE_HEARTBEAT_SECONDS"] = "0.5"
    second.start()
    try:
        it = wait_for(second, key, project, iteration)
        assert it["status"] == "Completed", it
        with sqlite3.connect(db) as c:
            attempts, state = c.execute("SELECT attempts, state FROM jobs").fetchone()
        assert (attempts, state) == (2, "done")
    finally:
        second.stop()


@pytest.mark.skipif(not PG_URL, reason="needs the PostgreSQL cluster from scripts/with-postgres.sh")
def test_two_processes_never_run_the_same_job_twice():
    dbu = fresh_postgres_database()
    # Scale-out shares the database and the blob store (here: one DATA_DIR).
    a = Server(database_url=dbu)
    b = Server(database_url=dbu, data_dir=a.data_dir)
    for srv in (a, b):
        srv.env["ENGINE_HEARTBEAT_SECONDS"] = "0.5"
        srv.start()
    try:
        token = a.create_admin()
        acct = make_account(a, token, "twojobs@example.com")
        key = acct["trainingKeys"][0]
        projects = [project_with_images(a, key, per_class=6, name=f"p{i}") for i in range(4)]
        iterations = []
        for i, p in enumerate(projects):
            base, s = api(a if i % 2 else b, key)
            iterations.append(s.post(f"{base}/projects/{p}/train", timeout=30).json()["id"])
        for p, it in zip(projects, iterations):
            done = wait_for(a, key, p, it)
            assert done["status"] == "Completed", done.get("trainingErrorDetails")
        u = urllib.parse.urlparse(dbu)
        psql = sorted(os.listdir("/usr/lib/postgresql"))[-1]
        out = subprocess.run([f"/usr/lib/postgresql/{psql}/bin/psql", "-h", u.hostname, "-p", str(u.port), "-U", "postgres",
                              "-d", u.path[1:], "-At", "-c", "SELECT attempts, state FROM jobs"],
                             capture_output=True, text=True, check=True).stdout.split()
        assert sorted(out) == ["1|done"] * 4, out
    finally:
        a.stop()
        b.stop()
