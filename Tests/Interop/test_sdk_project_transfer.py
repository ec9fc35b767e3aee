"""Microsoft's SDK queries an iteration's training set after the project changed, and moves
a project into another account with export_project / import_project."""
import time

from azure.cognitiveservices.vision.customvision.training.models import (
    ImageFileCreateBatch, ImageFileCreateEntry, SuggestedTagAndRegionQueryToken, Tag)
from msrest.exceptions import HttpOperationError

from test_sdk_images import jpeg, trainer_for


def wait(fn, done, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if done(value):
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


def test_sdk_iteration_queries_and_project_transfer(server):
    token = server.create_admin()
    _, trainer = trainer_for(server, token, "transfer-from@example.com")
    _, other = trainer_for(server, token, "transfer-to@example.com")
    project = trainer.create_project("sdk transfer", classification_type="Multilabel")
    a = trainer.create_tag(project.id, "a")
    b = trainer.create_tag(project.id, "b", description="the second")
    entries = [ImageFileCreateEntry(name=f"{i}.jpg", contents=jpeg(500 + i), tag_ids=[a.id] if i < 6 else [b.id] if i < 12 else [a.id, b.id])
               for i in range(14)]
    assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    iteration = trainer.train_project(project.id)
    iteration = wait(lambda: trainer.get_iteration(project.id, iteration.id), lambda it: it.status != "Training")
    assert iteration.status == "Completed"

    first = trainer.get_images(project.id, take=256)
    trainer.delete_images(project.id, image_ids=[first[0].id])
    trainer.create_images_from_data(project.id, jpeg(900), tag_ids=[a.id])
    trainer.update_tag(project.id, b.id, Tag(name="bee", description="renamed", type="Regular"))

    assert trainer.get_image_count(project.id, iteration_id=iteration.id) == 14
    assert trainer.get_tagged_image_count(project.id, iteration_id=iteration.id, tag_ids=[b.id]) == 8
    assert trainer.get_untagged_image_count(project.id, iteration_id=iteration.id) == 0
    assert {i.id for i in trainer.get_images(project.id, iteration_id=iteration.id, take=256)} == {i.id for i in first}
    assert [i.id for i in trainer.get_images_by_ids(project.id, image_ids=[first[0].id], iteration_id=iteration.id)] == [first[0].id]
    assert len(trainer.get_tagged_images(project.id, iteration_id=iteration.id, take=256)) == 14
    assert trainer.get_untagged_images(project.id, iteration_id=iteration.id) == []
    then = {t.name: t.image_count for t in trainer.get_tags(project.id, iteration_id=iteration.id)}
    assert then == {"a": 8, "b": 8}, then
    assert trainer.get_tag(project.id, b.id, iteration_id=iteration.id).name == "b"
    assert trainer.get_image_count(project.id) == 14

    export = trainer.export_project(project.id)
    assert (export.image_count, export.tag_count, export.region_count, export.iteration_count) == (14, 2, 0, 1)
    assert export.estimated_import_time_in_ms > 0 and export.token
    copy = other.import_project(export.token, name="imported")
    assert copy.status == "Importing" and copy.name == "imported"
    copy = wait(lambda: other.get_project(copy.id), lambda p: p.status != "Importing")
    assert copy.status == "Succeeded"
    assert other.get_image_count(copy.id) == 14
    now = {t.name: (t.image_count, t.description) for t in trainer.get_tags(project.id)}
    assert {t.name: (t.image_count, t.description) for t in other.get_tags(copy.id)} == now and "bee" in now
    try:
        other.import_project(export.token[:-2] + ("xy" if not export.token.endswith("xy") else "yx"))
        raise AssertionError("a damaged token was accepted")
    except HttpOperationError as e:
        assert e.response.status_code == 400 and e.response.json()["code"] == "BadRequestInvalidImportToken"

    # Smart labeling through the SDK's own models, on untagged images added since.
    fresh = [trainer.create_images_from_data(project.id, jpeg(700 + i)).images[0].image.id for i in range(3)]
    found = trainer.query_suggested_images(project.id, iteration.id, SuggestedTagAndRegionQueryToken(tag_ids=[a.id, b.id], threshold=0.0, max_count=2))
    assert len(found.results) == 2 and found.token.continuation == "2"
    assert all(r.id in fresh and r.predictions and r.thumbnail_uri for r in found.results)
    rest = trainer.query_suggested_images(project.id, iteration.id, SuggestedTagAndRegionQueryToken(
        tag_ids=[a.id, b.id], threshold=0.0, max_count=2, continuation=found.token.continuation))
    assert len(rest.results) == 1 and rest.token.continuation is None
    counts = trainer.query_suggested_image_count(project.id, iteration.id, tag_ids=[a.id], threshold=0.0)
    assert counts == {a.id: 3}, counts
    suggested = trainer.suggest_tags_and_regions(project.id, iteration.id, fresh[:2])
    assert [s.id for s in suggested] == fresh[:2] and 0 <= suggested[0].prediction_uncertainty <= 1
    assert {p.tag_name for p in suggested[0].predictions} == {"a", "bee"}
