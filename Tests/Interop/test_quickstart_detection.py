"""Microsoft's object-detection quickstart flow, with its unmodified client calls, against
Sightline: the "General" ObjectDetection domain from get_domains, tags "fork" and "scissors",
20 + 20 images with one region each in one create_images_from_files batch, train, poll until
Completed, publish, detect_image with an open file. The images are real photos (aerial tree
crops with Fashion-MNIST sneakers and bags pasted on, built by
Tests/Fixtures/make_detection_set.py); 20 held-out composites whose objects training never
saw then have to be found with the right tag and box."""
import json
import os
import time
import uuid

from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch, ImageFileCreateEntry, PredictionQueryToken, Region)
from msrest.authentication import ApiKeyCredentials

import pytest

from conftest import CLUSTER, ROOT, admin_api, make_account

COMPOSITES = os.path.join(ROOT, ".cache", "datasets", "od-composites")


def composites(split):
    """Manifest entries of one split ("train", "test" or "pairs"), in manifest order."""
    with open(os.path.join(COMPOSITES, "manifest.json")) as f:
        return [e for e in json.load(f) if e["split"] == split]


def regions_table(tag):
    """The quickstart's hard-coded {file name: [left, top, width, height]} table for one tag,
    here read from the training composites (one box each)."""
    table = {}
    for e in composites("train"):
        if e["tags"] == [tag]:
            table[os.path.splitext(os.path.basename(e["file"]))[0]] = e["boxes"][0]
    return table


def iou(a, b):
    """Intersection over union of two [left, top, width, height] boxes."""
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def box_of(prediction):
    b = prediction.bounding_box
    return [b.left, b.top, b.width, b.height]


@pytest.mark.skipif(CLUSTER, reason="make test runs it through nginx and two nodes (test_cluster.py)")
def test_object_detection_quickstart(server):
    object_detection_quickstart(server)


def object_detection_quickstart(server):
    token = server.create_admin()
    acct = make_account(server, token, "detect-quickstart@example.com", tier="S0")
    # 20 held-out detections in a row: lift S0's 10 per second for this account.
    assert admin_api(server, token, "PUT", f"accounts/{acct['id']}/overrides", json={"transactionsPerSecond": "unlimited"}).ok
    ENDPOINT = acct["endpoint"]
    training_key, prediction_key = acct["trainingKeys"][0], acct["predictionKeys"][0]
    prediction_resource_id = acct["resourceId"]

    credentials = ApiKeyCredentials(in_headers={"Training-key": training_key})
    trainer = CustomVisionTrainingClient(ENDPOINT, credentials)
    prediction_credentials = ApiKeyCredentials(in_headers={"Prediction-key": prediction_key})
    predictor = CustomVisionPredictionClient(ENDPOINT, prediction_credentials)

    publish_iteration_name = "detectModel"

    # Find the object detection domain
    obj_detection_domain = next(domain for domain in trainer.get_domains() if domain.type == "ObjectDetection" and domain.name == "General")

    # Create a new project
    print("Creating project...")
    # Use uuid to avoid project name collisions.
    project = trainer.create_project(str(uuid.uuid4()), domain_id=obj_detection_domain.id)

    # Make two tags in the new project
    fork_tag = trainer.create_tag(project.id, "fork")
    scissors_tag = trainer.create_tag(project.id, "scissors")

    # The quickstart's tables of normalized left, top, width, height per image.
    fork_image_regions = regions_table("fork")
    scissors_image_regions = regions_table("scissors")
    assert len(fork_image_regions) == 20 and len(scissors_image_regions) == 20

    base_image_location = COMPOSITES

    # Go through the data table above and create the images
    print("Adding images...")
    tagged_images_with_regions = []

    for file_name in fork_image_regions.keys():
        x, y, w, h = fork_image_regions[file_name]
        regions = [Region(tag_id=fork_tag.id, left=x, top=y, width=w, height=h)]

        with open(os.path.join(base_image_location, "fork", file_name + ".jpg"), mode="rb") as image_contents:
            tagged_images_with_regions.append(ImageFileCreateEntry(name=file_name, contents=image_contents.read(), regions=regions))

    for file_name in scissors_image_regions.keys():
        x, y, w, h = scissors_image_regions[file_name]
        regions = [Region(tag_id=scissors_tag.id, left=x, top=y, width=w, height=h)]

        with open(os.path.join(base_image_location, "scissors", file_name + ".jpg"), mode="rb") as image_contents:
            tagged_images_with_regions.append(ImageFileCreateEntry(name=file_name, contents=image_contents.read(), regions=regions))

    upload_result = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=tagged_images_with_regions))
    if not upload_result.is_batch_successful:
        print("Image batch upload failed.")
        for image in upload_result.images:
            print("Image status: ", image.status)
    assert upload_result.is_batch_successful, [i.status for i in upload_result.images]
    # A region's tag tags its image.
    assert trainer.get_tagged_image_count(project.id, tag_ids=[fork_tag.id]) == 20
    assert trainer.get_tagged_image_count(project.id, tag_ids=[scissors_tag.id]) == 20

    print("Training...")
    iteration = trainer.train_project(project.id)
    deadline = time.time() + 600
    while (iteration.status != "Completed"):
        assert iteration.status != "Failed", iteration.training_error_details
        assert time.time() < deadline, "training took longer than 600 s"
        iteration = trainer.get_iteration(project.id, iteration.id)
        print("Training status: " + iteration.status)
        time.sleep(1)

    # The iteration is now trained. Publish it to the project endpoint
    assert trainer.publish_iteration(project.id, iteration.id, publish_iteration_name, prediction_resource_id) is True
    print("Done!")

    # Now there is a trained endpoint that can be used to make a prediction

    # Open the sample image and get back the prediction results.
    with open(os.path.join(base_image_location, "test", "fork_1.jpg"), mode="rb") as test_data:
        results = predictor.detect_image(project.id, publish_iteration_name, test_data)

    # Display the results.
    for prediction in results.predictions:
        print("\t" + prediction.tag_name + ": {0:.2f}% bbox.left = {1:.2f}, bbox.top = {2:.2f}, bbox.width = {3:.2f}, bbox.height = {4:.2f}".format(prediction.probability * 100, prediction.bounding_box.left, prediction.bounding_box.top, prediction.bounding_box.width, prediction.bounding_box.height))
    assert (results.project, results.iteration) == (project.id, iteration.id)

    # The held-out composites: the most probable box must carry the right tag and overlap
    # the truth. OD predictions are grouped by tag, not sorted, so take the maximum.
    tag_ids = {"fork": fork_tag.id, "scissors": scissors_tag.id}
    misses = []
    for e in composites("test"):
        with open(os.path.join(base_image_location, e["file"]), mode="rb") as test_data:
            results = predictor.detect_image(project.id, publish_iteration_name, test_data)
        assert results.predictions, e["file"]
        assert all(tag_ids[p.tag_name] == p.tag_id and 0 <= p.probability <= 1 for p in results.predictions)
        top = max(results.predictions, key=lambda p: p.probability)
        overlap = iou(box_of(top), e["boxes"][0])
        if top.tag_name != e["tags"][0] or overlap < 0.5:
            misses.append((e["file"], top.tag_name, round(top.probability, 3), round(overlap, 3)))
    assert len(composites("test")) == 20
    assert len(misses) <= 2, misses
    last_stored = results.id

    # Without storing: the same detections, and nothing new among the stored predictions.
    with open(os.path.join(base_image_location, e["file"]), mode="rb") as test_data:
        again = predictor.detect_image_with_no_store(project.id, publish_iteration_name, test_data)
    order = lambda p: (p.tag_name, -p.probability)  # noqa: E731
    pairs = list(zip(sorted(results.predictions, key=order), sorted(again.predictions, key=order)))
    assert len(again.predictions) == len(results.predictions) and all(
        a.tag_name == b.tag_name and abs(a.probability - b.probability) <= 1e-5 and iou(box_of(a), box_of(b)) >= 0.999
        for a, b in pairs), [(a.tag_name, a.probability, b.probability) for a, b in pairs]
    newest = trainer.query_predictions(project.id, PredictionQueryToken(order_by="Newest", max_count=1)).results
    assert [r.id for r in newest] == [last_stored]

    # Detection metrics at the portal's default thresholds: 50 % probability, 30 % overlap.
    performance = trainer.get_iteration_performance(project.id, iteration.id, threshold=0.5, overlap_threshold=0.3)
    assert sorted(t.name for t in performance.per_tag_performance) == ["fork", "scissors"]
    assert all(t.average_precision is not None for t in performance.per_tag_performance)
    assert performance.average_precision > 0.8, [(t.name, t.average_precision) for t in performance.per_tag_performance]

    # Clean up as the quickstart does: unpublish, then delete.
    trainer.unpublish_iteration(project.id, iteration.id)
    trainer.delete_project(project.id)
