"""Every operation of Microsoft's SDK 3.1.1 (52 training, 8 prediction) called once against
one server, each with arguments that should succeed: the test fails on any error, a 404
for a documented route included, and at the end checks that it called them all."""
import inspect
import os
import time

from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.prediction.operations import _custom_vision_prediction_client_operations as prediction_ops
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch, ImageFileCreateEntry, ImageIdCreateBatch, ImageIdCreateEntry, ImageRegionCreateEntry,
    ImageTagCreateEntry, ImageUrlCreateBatch, ImageUrlCreateEntry, PredictionQueryToken, Project, Region,
    SuggestedTagAndRegionQueryToken, Tag)
from azure.cognitiveservices.vision.customvision.training.operations import _custom_vision_training_client_operations as training_ops
from msrest.authentication import ApiKeyCredentials

from conftest import ANSWERING_DETECTOR_SAMPLES, Server, make_account
from test_quickstart_classification import fashion
from test_quickstart_detection import COMPOSITES, regions_table


def operations(module):
    mixin = next(c for n, c in inspect.getmembers(module, inspect.isclass) if n.endswith("OperationsMixin"))
    return {n for n in dir(mixin) if not n.startswith("_")}


class Recording:
    """The client, with each operation's name noted when it is called."""
    def __init__(self, client, called):
        self._client, self._called = client, called

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if callable(attr) and not name.startswith("_"):
            self._called.add(name)
        return attr


def wait_trained(t, project, iteration):
    deadline = time.time() + 600
    while t.get_iteration(project, iteration).status == "Training":
        assert time.time() < deadline
        time.sleep(0.5)
    assert t.get_iteration(project, iteration).status == "Completed"


def test_every_sdk_operation_answers():
    server = Server()
    server.env["SIGHTLINE_TEST_ALLOW_LOOPBACK_URLS"] = "1"  # the URL operations fetch the server's own blobs
    server.env["DETECTION_MAX_SAMPLES"] = ANSWERING_DETECTOR_SAMPLES  # the detector only has to answer
    called = set()
    try:
        server.start()
        acct = make_account(server, server.create_admin(), "every-op@example.com")
        t = Recording(CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]})), called)
        p = Recording(CustomVisionPredictionClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Prediction-key": acct["predictionKeys"][0]})), called)

        domains = t.get_domains()
        compact = next(d for d in domains if d.type == "Classification" and d.name == "General (compact)")
        assert t.get_domain(compact.id).exportable
        project = t.create_project("every op", domain_id=compact.id, classification_type="Multiclass")
        assert project.id in [x.id for x in t.get_projects()]
        t.update_project(project.id, Project(name="every operation", description="all 60", settings=project.settings))
        assert t.get_project(project.id).name == "every operation"
        sneaker, trouser = t.create_tag(project.id, "sneaker"), t.create_tag(project.id, "trouser")
        spare = t.create_tag(project.id, "spare")
        t.update_tag(project.id, spare.id, Tag(name="spare tag", description="", type="Regular"))
        assert t.get_tag(project.id, spare.id).name == "spare tag"
        t.delete_tag(project.id, spare.id)
        assert {x.name for x in t.get_tags(project.id)} == {"sneaker", "trouser"}

        batch = [ImageFileCreateEntry(name=f"s{i}.png", contents=d, tag_ids=[sneaker.id]) for i, d in enumerate(fashion("train", 7, 6))]
        batch += [ImageFileCreateEntry(name=f"t{i}.png", contents=d) for i, d in enumerate(fashion("train", 1, 5))]
        assert t.create_images_from_files(project.id, ImageFileCreateBatch(images=batch)).is_batch_successful
        one = t.create_images_from_data(project.id, fashion("train", 1, 1, skip=5)[0], tag_ids=[trouser.id]).images[0].image
        url = one.original_image_uri
        untagged = t.get_untagged_images(project.id, take=256)
        assert t.get_untagged_image_count(project.id) == 5
        r = t.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=i.id, tag_id=trouser.id) for i in untagged])
        assert len(r.created) == 5
        t.delete_image_tags(project.id, image_ids=[untagged[0].id], tag_ids=[trouser.id])
        t.create_image_tags(project.id, tags=[ImageTagCreateEntry(image_id=untagged[0].id, tag_id=trouser.id)])
        assert t.get_tagged_image_count(project.id) == 12 and len(t.get_tagged_images(project.id, take=256)) == 12
        assert t.get_image_count(project.id) == 12 and len(t.get_images(project.id, take=256)) == 12
        assert t.get_images_by_ids(project.id, image_ids=[one.id])[0].id == one.id
        t.update_image_metadata(project.id, image_ids=[one.id], metadata={"k": "v"})
        regions = t.create_image_regions(project.id, regions=[ImageRegionCreateEntry(image_id=one.id, tag_id=trouser.id, left=0.1, top=0.1, width=0.5, height=0.5)])
        t.delete_image_regions(project.id, region_ids=[regions.created[0].region_id])
        assert t.get_artifact(project.id, url.split("?")[0].split("/", 3)[3])
        export = t.export_project(project.id)
        assert export.image_count == 12

        iteration = t.train_project(project.id)
        wait_trained(t, project.id, iteration.id)
        assert [i.id for i in t.get_iterations(project.id)] == [iteration.id]
        t.update_iteration(project.id, iteration.id, name="first")
        assert t.get_iteration_performance(project.id, iteration.id, threshold=0.5).per_tag_performance
        assert t.get_image_performance_count(project.id, iteration.id) > 0
        assert t.get_image_performances(project.id, iteration.id, take=5)
        assert t.publish_iteration(project.id, iteration.id, "model", acct["resourceId"])
        test_image = fashion("t10k", 7, 1)[0]
        assert p.classify_image(project.id, "model", test_image).predictions[0].tag_name == "sneaker"
        p.classify_image_with_no_store(project.id, "model", test_image)
        p.classify_image_url(project.id, "model", url)
        p.classify_image_url_with_no_store(project.id, "model", url)
        assert t.quick_test_image(project.id, test_image, iteration_id=iteration.id).predictions
        assert t.quick_test_image_url(project.id, url, iteration_id=iteration.id).predictions
        stored = t.query_predictions(project.id, PredictionQueryToken(max_count=50))
        assert stored.results
        added = t.create_images_from_predictions(project.id, ImageIdCreateBatch(images=[
            ImageIdCreateEntry(id=stored.results[-1].id, tag_ids=[sneaker.id])]))  # the oldest: classify_image's, a new image
        assert added.is_batch_successful, [i.status for i in added.images]
        t.delete_prediction(project.id, ids=[r.id for r in stored.results[:-1]])
        urls = t.create_images_from_urls(project.id, ImageUrlCreateBatch(images=[ImageUrlCreateEntry(url=url)]))
        assert urls.images[0].status == "OKDuplicate"
        assert t.get_exports(project.id, iteration.id) == []
        assert t.export_iteration(project.id, iteration.id, "ONNX").status in ("Exporting", "Done")
        fresh = t.create_images_from_data(project.id, fashion("t10k", 1, 1)[0]).images[0].image.id
        assert t.suggest_tags_and_regions(project.id, iteration.id, [fresh])[0].predictions
        assert t.query_suggested_images(project.id, iteration.id, SuggestedTagAndRegionQueryToken(threshold=0.0)).results
        assert t.query_suggested_image_count(project.id, iteration.id, tag_ids=[sneaker.id, trouser.id], threshold=0.0) == {sneaker.id: 1, trouser.id: 1}
        copy = t.import_project(export.token)
        assert copy.status == "Importing"
        t.unpublish_iteration(project.id, iteration.id)
        while t.get_exports(project.id, iteration.id)[0].status == "Exporting":
            time.sleep(0.5)
        t.delete_iteration(project.id, iteration.id)
        t.delete_images(project.id, image_ids=[fresh])

        # Detection: regions, proposals, detection predictions.
        od_domain = next(d for d in domains if d.type == "ObjectDetection" and d.name == "General (compact)")
        od = t.create_project("every op boxes", domain_id=od_domain.id)
        fork = t.create_tag(od.id, "fork")
        entries = []
        for name, (x, y, w, h) in list(regions_table("fork").items())[:16]:
            with open(os.path.join(COMPOSITES, "fork", name + ".jpg"), "rb") as f:
                entries.append(ImageFileCreateEntry(name=name, contents=f.read(), regions=[Region(tag_id=fork.id, left=x, top=y, width=w, height=h)]))
        assert t.create_images_from_files(od.id, ImageFileCreateBatch(images=entries)).is_batch_successful
        od_it = t.train_project(od.id)
        wait_trained(t, od.id, od_it.id)
        some = t.get_images(od.id, take=1)[0]
        assert t.get_image_region_proposals(od.id, some.id).proposals is not None
        assert t.publish_iteration(od.id, od_it.id, "boxes", acct["resourceId"])
        with open(os.path.join(COMPOSITES, "test", "fork_1.jpg"), "rb") as f:
            data = f.read()
        p.detect_image(od.id, "boxes", data)
        p.detect_image_with_no_store(od.id, "boxes", data)
        p.detect_image_url(od.id, "boxes", some.original_image_uri)
        p.detect_image_url_with_no_store(od.id, "boxes", some.original_image_uri)
        t.unpublish_iteration(od.id, od_it.id)
        t.delete_project(od.id)
        while t.get_project(copy.id).status == "Importing":
            time.sleep(0.3)
        t.delete_project(copy.id)

        missing = (operations(training_ops) | operations(prediction_ops)) - called
        assert not missing, f"not called: {sorted(missing)}"
        assert len(called & (operations(training_ops) | operations(prediction_ops))) == 60
    finally:
        server.stop()
