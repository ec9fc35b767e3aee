"""Microsoft's Python SDK (azure-cognitiveservices-vision-customvision 3.1.1) against
Sightline, with only the endpoint and keys changed."""
import uuid

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import CustomVisionErrorException
from msrest.authentication import ApiKeyCredentials

from conftest import make_account


def test_sdk_projects_tags_and_errors(server):
    token = server.create_admin()
    acct = make_account(server, token, "sdk@example.com", tier="F0")
    endpoint = acct["endpoint"]
    assert endpoint == server.url + "/"
    trainer = CustomVisionTrainingClient(endpoint, ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))

    domains = trainer.get_domains()
    od = next(d for d in domains if d.type == "ObjectDetection" and d.name == "General")
    assert od.id == "da2e3a8a-40a5-4171-82f4-58522f70fbc1"
    assert trainer.get_domain(od.id).name == "General"

    project = trainer.create_project(uuid.uuid4())  # the quickstart passes a UUID object
    assert project.settings.classification_type == "Multilabel"
    assert project.created is not None and project.created.tzinfo is not None
    mc = trainer.create_project("multiclass", description="d", classification_type="Multiclass")
    assert mc.settings.classification_type == "Multiclass"
    with pytest.raises(CustomVisionErrorException) as e:
        trainer.create_project("third")  # F0 allows two projects
    assert e.value.error.code == "BadRequestExceedProjectLimit"

    hemlock = trainer.create_tag(project.id, "Hemlock")
    cherry = trainer.create_tag(project.id, "Japanese Cherry", description="pink")
    assert {t.name for t in trainer.get_tags(project.id)} == {"Hemlock", "Japanese Cherry"}
    assert trainer.get_tag(project.id, cherry.id).description == "pink"
    with pytest.raises(CustomVisionErrorException) as e:
        trainer.create_tag(project.id, "hemlock")
    assert e.value.error.code == "BadRequestTagNameNotUnique"
    assert e.value.response.status_code == 400

    # Round-tripping the SDK's own models into update calls works (non-null descriptions).
    hemlock.name = "Western Hemlock"
    assert trainer.update_tag(project.id, hemlock.id, hemlock).name == "Western Hemlock"
    fetched = trainer.get_project(project.id)
    fetched.description = "trees"
    updated = trainer.update_project(project.id, fetched)
    assert updated.description == "trees" and updated.name == str(project.name)
    assert [p.id for p in trainer.get_projects()] == [project.id, mc.id]

    trainer.delete_tag(project.id, cherry.id)
    assert [t.name for t in trainer.get_tags(project.id)] == ["Western Hemlock"]
    with pytest.raises(CustomVisionErrorException) as e:
        trainer.get_tag(project.id, cherry.id)
    assert e.value.error.code == "NotFoundTag"
    trainer.delete_project(project.id)
    with pytest.raises(CustomVisionErrorException) as e:
        trainer.get_project(project.id)
    assert e.value.error.code == "NotFoundProject" and e.value.response.status_code == 404

    wrong = CustomVisionTrainingClient(endpoint, ApiKeyCredentials(in_headers={"Training-key": "0" * 32}))
    with pytest.raises(CustomVisionErrorException) as e:
        wrong.get_projects()
    assert e.value.error.code == "Unauthorized" and e.value.response.status_code == 401

    # No password, key or token appears in the server's log.
    log = server.log()
    assert "GET" in log or "POST" in log or "request" in log.lower()
    for secret in acct["trainingKeys"] + acct["predictionKeys"] + [token, "password-123", "interop-admin-password"]:
        assert secret not in log


def test_server_serves_sign_in_page(server):
    import requests
    r = requests.get(server.url + "/", timeout=10)
    assert r.status_code == 200 and 'action="/signin"' in r.text
    assert r.headers["content-type"].startswith("text/html")
    assert requests.get(server.url + "/css/sightline.css", timeout=10).status_code == 200
