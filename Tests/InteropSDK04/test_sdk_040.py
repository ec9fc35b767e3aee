"""Microsoft's SDK 0.4.0 (Training v2.2, Prediction v2.0), unmodified, as scripts of the
seed's time use it: create a project, upload tagged images, train, make the iteration the
default, predict an image and a URL, with and without iterationId."""
import io
import random
import time

from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateEntry
from msrest.exceptions import HttpOperationError
from PIL import Image

from interop_servers import make_account


def picture(seed, colour):
    rnd = random.Random(seed)
    img = Image.new("RGB", (96, 96), colour)
    for _ in range(30):
        x, y = rnd.randrange(90), rnd.randrange(90)
        shade = tuple(max(0, min(255, c + rnd.randrange(-40, 40))) for c in colour)
        img.paste(shade, (x, y, x + 6, y + 6))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_sdk_040_trains_sets_default_and_predicts(server):
    acct = make_account(server, server.create_admin(), "seed-era@example.com")
    ENDPOINT = acct["endpoint"]
    trainer = CustomVisionTrainingClient(acct["trainingKeys"][0], endpoint=ENDPOINT)

    project = trainer.create_project("My New Project")
    red = trainer.create_tag(project.id, "Red")
    blue = trainer.create_tag(project.id, "Blue")
    images = [ImageFileCreateEntry(name=f"r{i}.jpg", contents=picture(i, (200, 30, 30)), tag_ids=[red.id]) for i in range(6)]
    images += [ImageFileCreateEntry(name=f"b{i}.jpg", contents=picture(50 + i, (30, 30, 200)), tag_ids=[blue.id]) for i in range(6)]
    assert trainer.create_images_from_files(project.id, images=images).is_batch_successful
    assert trainer.get_tagged_image_count(project.id) == 12
    assert {t.name for t in trainer.get_tags(project.id)} == {"Red", "Blue"}

    iteration = trainer.train_project(project.id)
    while iteration.status != "Completed":
        assert iteration.status != "Failed"
        iteration = trainer.get_iteration(project.id, iteration.id)
        time.sleep(0.5)
    assert iteration.is_default is False
    updated = trainer.update_iteration(project.id, iteration.id, is_default=True)
    assert updated.is_default is True and updated.name == iteration.name
    assert [i.is_default for i in trainer.get_iterations(project.id)] == [True]

    predictor = CustomVisionPredictionClient(acct["predictionKeys"][0], endpoint=ENDPOINT)
    results = predictor.predict_image(project.id, picture(99, (200, 30, 30)), iteration.id)
    assert results.predictions[0].tag_name == "Red", [(p.tag_name, p.probability) for p in results.predictions]
    # Without iterationId: the default iteration.
    results = predictor.predict_image_with_no_store(project.id, picture(98, (30, 30, 200)))
    assert results.predictions[0].tag_name == "Blue" and results.iteration == iteration.id
    url = trainer.get_tagged_images(project.id, tag_ids=[red.id])[0].original_image_uri
    assert predictor.predict_image_url(project.id, iteration.id, url=url).predictions[0].tag_name == "Red"
    assert predictor.predict_image_url_with_no_store(project.id, url=url).predictions[0].tag_name == "Red"

    # The default cannot be an untrained iteration; an unknown project is not found.
    try:
        predictor.predict_image(project.id[:-4] + "0000", picture(97, (0, 0, 0)))
        raise AssertionError("predicted for a project that does not exist")
    except HttpOperationError as e:
        assert e.response.status_code == 404
    trainer.update_iteration(project.id, iteration.id, is_default=False)
    try:
        predictor.predict_image(project.id, picture(96, (0, 0, 0)))
        raise AssertionError("predicted without a default iteration")
    except HttpOperationError as e:
        assert e.response.json()["code"] == "NotFoundProjectDefaultIteration"
