"""Microsoft's image-classification quickstart flow, with its unmodified client calls,
against Sightline: real images (Fashion-MNIST, extracted by scripts/datasets-ensure.sh),
two tags, 10 + 10 images in one create_images_from_files batch, train, poll until
Completed, publish, classify_image with bytes, unpublish, delete."""
import io
import itertools
import os
import time
import uuid

from azure.cognitiveservices.vision.customvision.prediction import CustomVisionPredictionClient
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import (
    CustomVisionErrorException, ImageFileCreateBatch, ImageFileCreateEntry)
from msrest.authentication import ApiKeyCredentials
from PIL import Image

from conftest import ROOT, make_account

DATA = os.path.join(ROOT, ".cache", "datasets", "fashion-mnist")


def fashion_mnist(split, label):
    """The 28×28 grey images of one class, in file order."""
    with open(os.path.join(DATA, f"{split}-images-idx3-ubyte"), "rb") as f:
        images = f.read()
    with open(os.path.join(DATA, f"{split}-labels-idx1-ubyte"), "rb") as f:
        labels = f.read()[8:]
    for i, l in enumerate(labels):
        if l == label:
            yield Image.frombytes("L", (28, 28), images[16 + i * 784:16 + (i + 1) * 784])


def fashion(split, label, count, skip=0):
    """PNG bytes of the first `count` images of one class (after `skip`), upscaled like photos."""
    out = []
    for img in itertools.islice(fashion_mnist(split, label), skip, skip + count):
        buf = io.BytesIO()
        img.resize((224, 224), Image.BICUBIC).convert("RGB").save(buf, "PNG")
        out.append(buf.getvalue())
    return out


def test_image_classification_quickstart(sqlite_server):
    """On SQLite, what a first `make run` serves; the detection quickstart runs on PostgreSQL."""
    server = sqlite_server
    token = server.create_admin()
    acct = make_account(server, token, "quickstart@example.com", tier="S0")
    ENDPOINT = acct["endpoint"]
    training_key, prediction_key = acct["trainingKeys"][0], acct["predictionKeys"][0]
    prediction_resource_id = acct["resourceId"]

    credentials = ApiKeyCredentials(in_headers={"Training-key": training_key})
    trainer = CustomVisionTrainingClient(ENDPOINT, credentials)
    prediction_credentials = ApiKeyCredentials(in_headers={"Prediction-key": prediction_key})
    predictor = CustomVisionPredictionClient(ENDPOINT, prediction_credentials)

    publish_iteration_name = "classifyModel"
    project = trainer.create_project(uuid.uuid4())
    # Sneakers (7) and trousers (1) stand in for Hemlock and Japanese Cherry.
    hemlock_tag = trainer.create_tag(project.id, "Hemlock")
    cherry_tag = trainer.create_tag(project.id, "Japanese Cherry")

    image_list = []
    for n, data in enumerate(fashion("train", 7, 10)):
        image_list.append(ImageFileCreateEntry(name=f"hemlock_{n + 1}.png", contents=data, tag_ids=[hemlock_tag.id]))
    for n, data in enumerate(fashion("train", 1, 10)):
        image_list.append(ImageFileCreateEntry(name=f"japanese_cherry_{n + 1}.png", contents=data, tag_ids=[cherry_tag.id]))
    upload_result = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=image_list))
    assert upload_result.is_batch_successful, [i.status for i in upload_result.images]

    iteration = trainer.train_project(project.id)
    assert iteration.status == "Training"
    deadline = time.time() + 300
    while iteration.status != "Completed":
        assert iteration.status != "Failed", iteration.training_error_details
        assert time.time() < deadline
        iteration = trainer.get_iteration(project.id, iteration.id)
        time.sleep(1)
    assert iteration.trained_at is not None

    # Nothing changed: a second training is refused unless forced.
    try:
        trainer.train_project(project.id)
        raise AssertionError("expected BadRequestTrainingNotNeeded")
    except CustomVisionErrorException as e:
        assert e.error.code == "BadRequestTrainingNotNeeded"

    performance = trainer.get_iteration_performance(project.id, iteration.id, threshold=0.5)
    assert len(performance.per_tag_performance) == 2 and performance.average_precision > 0.8

    # Every training image was scored by a head that had not seen it.
    assert trainer.get_image_performance_count(project.id, iteration.id) == 20
    held_out = trainer.get_image_performances(project.id, iteration.id, tag_ids=[hemlock_tag.id], take=50)
    assert len(held_out) == 10 and all(len(i.predictions) == 2 for i in held_out)
    right = sum(1 for i in held_out if i.predictions[0].tag_name == "Hemlock")
    assert right >= 8, right

    assert trainer.publish_iteration(project.id, iteration.id, publish_iteration_name, prediction_resource_id) is True

    for label, expected in [(7, "Hemlock"), (1, "Japanese Cherry")]:
        test_image = fashion("t10k", label, 1)[0]
        results = predictor.classify_image(project.id, publish_iteration_name, test_image)
        top = results.predictions[0]
        assert top.tag_name == expected, [(p.tag_name, p.probability) for p in results.predictions]
        assert top.probability > 0.5

    # The training key is not a prediction key, and the name is what was published.
    wrong = CustomVisionPredictionClient(ENDPOINT, ApiKeyCredentials(in_headers={"Prediction-key": training_key}))
    try:
        wrong.classify_image(project.id, publish_iteration_name, fashion("t10k", 7, 1)[0])
        raise AssertionError("expected 401")
    except Exception as e:  # the prediction client's own CustomVisionErrorException
        assert e.response.status_code == 401
    try:
        predictor.classify_image(project.id, "noSuchModel", fashion("t10k", 7, 1)[0])
        raise AssertionError("expected 404")
    except Exception as e:
        assert e.response.status_code == 404 and e.error.code == "NotFoundIteration"

    # Quick test with the training key, then the stored predictions: query, reuse, delete.
    from azure.cognitiveservices.vision.customvision.training.models import (
        ImageIdCreateBatch, ImageIdCreateEntry, PredictionQueryTag, PredictionQueryToken)
    quick = trainer.quick_test_image(project.id, fashion("t10k", 1, 2)[1])
    assert quick.predictions[0].tag_name == "Japanese Cherry"
    stored = trainer.query_predictions(project.id, PredictionQueryToken(order_by="Newest", max_count=10))
    assert len(stored.results) == 3 and stored.results[0].id == quick.id
    assert stored.results[0].created >= stored.results[-1].created
    cherry_only = trainer.query_predictions(project.id, PredictionQueryToken(
        tags=[PredictionQueryTag(id=cherry_tag.id, min_threshold=0.5, max_threshold=1.0)]))
    assert {r.id for r in cherry_only.results} == {stored.results[0].id, stored.results[1].id}
    page = trainer.query_predictions(project.id, PredictionQueryToken(max_count=2))
    assert len(page.results) == 2 and page.token.continuation
    rest = trainer.query_predictions(project.id, page.token)
    assert len(rest.results) == 1 and not rest.token.continuation
    added = trainer.create_images_from_predictions(project.id, ImageIdCreateBatch(
        images=[ImageIdCreateEntry(id=quick.id, tag_ids=[cherry_tag.id])]))
    assert added.is_batch_successful
    assert trainer.get_tagged_image_count(project.id, tag_ids=[cherry_tag.id]) == 11
    trainer.delete_prediction(project.id, [r.id for r in stored.results])
    assert trainer.query_predictions(project.id, PredictionQueryToken()).results == []

    # A published project cannot be deleted; unpublish first, as the quickstart does.
    try:
        trainer.delete_project(project.id)
        raise AssertionError("expected a refusal")
    except CustomVisionErrorException as e:
        assert e.error.code == "BadRequestIterationIsPublished"
    trainer.unpublish_iteration(project.id, iteration.id)
    trainer.delete_project(project.id)
