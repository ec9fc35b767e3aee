"""A cluster as the operators' guide lays it out: nginx in front of two `sightline serve`
nodes with separate DATA_DIRs, one PostgreSQL, one S3 server (moto, signatures checked).
Microsoft's SDK runs the classification and detection quickstarts through nginx (the
detection one runs here instead of on a single node); every image and model is
readable and predictable through either node; a node killed mid-training leaves the job to
the other; a quota race across both stays exact; the store out of reach answers 503 with
Retry-After, then recovers."""
import concurrent.futures
import os
import subprocess
import time
import types
import urllib.parse
import uuid

import boto3
import pytest
import requests
from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry
from msrest.authentication import ApiKeyCredentials

from cluster_support import Nginx, Relay
from conftest import CLUSTER, Server, fresh_postgres_database, make_account
from test_quickstart_classification import fashion
from test_quickstart_detection import object_detection_quickstart

S3 = os.environ.get("TEST_S3_ENDPOINT")


def psql(db, query):
    bindir = sorted(os.listdir("/usr/lib/postgresql"))[-1]
    out = subprocess.run([f"/usr/lib/postgresql/{bindir}/bin/psql", db, "-At", "-c", query],
                         capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip()


def wait_for(what, check, timeout=120, every=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


def on_node(uri, node):
    """A signed link, asked of one node directly."""
    u = urllib.parse.urlparse(uri)
    return requests.get(f"{node.url}{u.path}?{u.query}", timeout=60)


@pytest.fixture(scope="module")
def cluster():
    if not CLUSTER:
        pytest.skip("needs scripts/with-postgres.sh and scripts/with-s3.sh (make test)")
    db = fresh_postgres_database()
    bucket = "sightline-cluster-" + uuid.uuid4().hex[:10]
    creds = dict(aws_access_key_id=os.environ["TEST_S3_ACCESS_KEY_ID"],
                 aws_secret_access_key=os.environ["TEST_S3_SECRET_ACCESS_KEY"], region_name=os.environ["TEST_S3_REGION"])
    s3 = boto3.client("s3", endpoint_url=S3, **creds)
    s3.create_bucket(Bucket=bucket)
    relay = Relay(urllib.parse.urlparse(S3).port).restore()
    a, b = Server(database_url=db), Server(database_url=db)
    nginx = Nginx([a.port, b.port])
    for node in (a, b):
        node.env.update(BLOB_STORE_URL=f"s3://{bucket}/cluster", AWS_ENDPOINT_URL_S3=f"http://127.0.0.1:{relay.port}",
                        AWS_ACCESS_KEY_ID=creds["aws_access_key_id"], AWS_SECRET_ACCESS_KEY=creds["aws_secret_access_key"],
                        AWS_REGION=creds["region_name"], BLOB_SIGNING_KEY="the same on every node",
                        PUBLIC_URL=nginx.url, ENGINE_HEARTBEAT_SECONDS="0.5")
    try:
        a.start()
        b.start()
        nginx.start()
        yield types.SimpleNamespace(a=a, b=b, nginx=nginx, relay=relay, db=db, s3=s3, bucket=bucket, token=a.create_admin())
    finally:
        nginx.stop()
        for node in (a, b):
            node.stop()
        relay.cut()


def test_classification_quickstart_node_loss_quota_race_and_store_outage(cluster):
    a, b, nginx, relay, db, s3, bucket = cluster.a, cluster.b, cluster.nginx, cluster.relay, cluster.db, cluster.s3, cluster.bucket
    token = cluster.token
    acct = make_account(types.SimpleNamespace(url=nginx.url), token, "cluster@example.com", tier="S0")
    assert acct["endpoint"] == nginx.url + "/"
    trainer = CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))

    # The quickstart's calls, through nginx: two tags, images in batches, train.
    compact = next(d for d in trainer.get_domains() if d.type == "Classification" and d.exportable)
    project = trainer.create_project(str(uuid.uuid4()), domain_id=compact.id)
    hemlock = trainer.create_tag(project.id, "Hemlock")
    cherry = trainer.create_tag(project.id, "Japanese Cherry")
    entries = [ImageFileCreateEntry(name=f"h{n}.png", contents=d, tag_ids=[hemlock.id]) for n, d in enumerate(fashion("train", 7, 50))]
    entries += [ImageFileCreateEntry(name=f"c{n}.png", contents=d, tag_ids=[cherry.id]) for n, d in enumerate(fashion("train", 1, 50))]
    for start in range(0, len(entries), 50):
        up = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries[start:start + 50]))
        assert up.is_batch_successful, [i.status for i in up.images]

    # Every image, from either node; no node keeps blobs of its own.
    images = trainer.get_tagged_images(project.id, take=256)
    assert len(images) == 100
    for image in images:
        bodies = {on_node(image.original_image_uri, node).content for node in (a, b)}
        assert len(bodies) == 1 and len(bodies.pop()) > 1000
    objects = s3.list_objects_v2(Bucket=bucket, Prefix="cluster/blobs/")["KeyCount"]
    assert objects == 300, objects
    for node in (a, b):
        assert not os.path.exists(os.path.join(node.data_dir, "blobs"))

    # Training on node A alone; A is killed once its job runs; B, started again, finishes it.
    # A training that beats the kill is run again (its features now cached), up to 3 times.
    b.stop()
    for attempt in range(3):
        iteration = trainer.train_project(project.id, force_train=attempt > 0)
        status = f"SELECT status FROM iterations WHERE id = '{iteration.id}'"
        wait_for("node A to run the job and store its first features", lambda: psql(db, status) != "Training" or (
            psql(db, "SELECT count(*) FROM jobs WHERE state = 'running'") == "1" and int(psql(db, "SELECT count(*) FROM features")) > 0))
        a.proc.kill()
        a.proc.wait()
        if psql(db, status) == "Training":
            break
        a.start()
    else:
        raise AssertionError("every training finished before its node was killed")
    b.start()
    iteration = wait_for("node B to finish the training", lambda: (
        lambda it: it if it.status != "Training" else None)(trainer.get_iteration(project.id, iteration.id)), every=0.5)
    assert iteration.status == "Completed", iteration.training_error_details
    a.start()

    # Published once, predicted through nginx and through each node.
    assert trainer.publish_iteration(project.id, iteration.id, "clusterModel", acct["resourceId"])
    sneaker = fashion("t10k", 7, 1)[0]
    for base in (nginx.url, a.url, b.url):
        predictor = CustomVisionPredictionClient(base + "/", ApiKeyCredentials(in_headers={"Prediction-key": acct["predictionKeys"][0]}))
        top = predictor.classify_image(project.id, "clusterModel", sneaker).predictions[0]
        assert top.tag_name == "Hemlock", base

    # An export built by whichever node claims it, downloaded from each.
    trainer.export_iteration(project.id, iteration.id, "ONNX")
    export = wait_for("the export", lambda: next((e for e in trainer.get_exports(project.id, iteration.id)
                                                  if e.status != "Exporting"), None), every=0.5)
    assert export.status == "Done" and export.download_uri.startswith(nginx.url + "/blobs/")
    zips = {on_node(export.download_uri, node).content for node in (a, b)}
    assert len(zips) == 1 and zips.pop()[:2] == b"PK"

    # A quota race across both nodes: an F0 project takes exactly 50 tags.
    f0 = make_account(types.SimpleNamespace(url=nginx.url), token, "cluster-f0@example.com", tier="F0")
    headers = {"Training-Key": f0["trainingKeys"][0]}
    race = requests.post(f"{nginx.url}/customvision/v3.3/training/projects?name=race", headers=headers, timeout=30).json()["id"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        codes = list(pool.map(lambda i: requests.post(
            f"{(a, b)[i % 2].url}/customvision/v3.4-preview/training/projects/{race}/tags?name=t{i}",
            headers=headers, timeout=60).status_code, range(60)))
    assert codes.count(200) == 50 and codes.count(400) == 10, codes

    # The store out of reach: 503 with Retry-After, from either node; then back.
    relay.cut()
    upload_url = f"{nginx.url}/customvision/v3.3/training/projects/{project.id}/images?tagIds={hemlock.id}"
    extra = fashion("train", 7, 1, skip=60)[0]
    refused = requests.post(upload_url, headers={"Training-Key": acct["trainingKeys"][0]},
                            files={"imageData": ("x.png", extra, "image/png")}, timeout=60)
    assert refused.status_code == 503 and refused.headers.get("Retry-After"), refused.text
    assert refused.json()["code"] == "ErrorUnknown"
    for node in (a, b):
        r = on_node(images[0].original_image_uri, node)
        assert r.status_code == 503 and r.headers.get("Retry-After"), r.text
    relay.restore()
    accepted = requests.post(upload_url, headers={"Training-Key": acct["trainingKeys"][0]},
                             files={"imageData": ("x.png", extra, "image/png")}, timeout=60)
    assert accepted.status_code == 200 and accepted.json()["isBatchSuccessful"], accepted.text
    for node in (a, b):
        assert on_node(images[0].original_image_uri, node).status_code == 200


def test_detection_quickstart_through_nginx(cluster):
    """Microsoft's object-detection quickstart, unmodified, with nginx as its endpoint."""
    front = types.SimpleNamespace(url=cluster.nginx.url,
                                  create_admin=lambda: cluster.a.create_admin("detect-admin@example.com"))
    object_detection_quickstart(front)

