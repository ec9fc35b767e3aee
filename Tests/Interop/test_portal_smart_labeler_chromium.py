"""Chromium uses the Smart labeler: on a project trained with half its images tagged,
the untagged filter shows each image's suggested tag; ticking the images suggested as
"sneaker" and confirming tags them so, in one action."""
import time

from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry
from msrest.authentication import ApiKeyCredentials
from selenium.webdriver.common.by import By

from conftest import make_account
from test_portal_chromium import browser, submit_credentials, wait_url  # noqa: F401  (fixture)
from test_quickstart_classification import fashion


def test_smart_labeler_confirms_a_selection(server, browser):  # noqa: F811
    token = server.create_admin()
    acct = make_account(server, token, "labeler@example.com")
    trainer = CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))
    project = trainer.create_project("labeler", classification_type="Multiclass")
    sneaker, trouser = trainer.create_tag(project.id, "sneaker"), trainer.create_tag(project.id, "trouser")
    entries = [ImageFileCreateEntry(name=f"s{i}.png", contents=d, tag_ids=[sneaker.id]) for i, d in enumerate(fashion("train", 7, 8))]
    entries += [ImageFileCreateEntry(name=f"t{i}.png", contents=d, tag_ids=[trouser.id]) for i, d in enumerate(fashion("train", 1, 8))]
    entries += [ImageFileCreateEntry(name=f"ut{i}.png", contents=d) for i, d in enumerate(fashion("train", 1, 6, skip=8))]
    assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    untagged_sneakers = trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=[
        ImageFileCreateEntry(name=f"us{i}.png", contents=d) for i, d in enumerate(fashion("train", 7, 6, skip=8))]))
    sneaker_ids = {i.image.id for i in untagged_sneakers.images}
    iteration = trainer.train_project(project.id)
    while trainer.get_iteration(project.id, iteration.id).status == "Training":
        time.sleep(0.5)

    b = browser
    b.get(server.url + "/signin")
    submit_credentials(b, "labeler@example.com", "password-123")
    b.get(f"{server.url}/accounts/{acct['id']}/projects/{project.id}?tag=untagged")
    thumbs = b.find_elements(By.CSS_SELECTOR, "#smart-labeler .thumb.suggested")
    assert len(thumbs) == 12
    picked = [t for t in thumbs if t.find_element(By.CSS_SELECTOR, ".chip.suggestion").text.startswith("sneaker")]
    assert 4 <= len(picked) <= 8, [t.text for t in thumbs]
    picked_ids = {t.get_attribute("data-image") for t in picked}
    for t in picked:
        t.find_element(By.CSS_SELECTOR, "input.smart-pick").click()
    b.find_element(By.ID, "smart-confirm").click()
    wait_url(b, "labelled=")
    assert b.find_element(By.ID, "smart-result").text == f"{len(picked)} images tagged."
    assert len(b.find_elements(By.CSS_SELECTOR, "#smart-labeler .thumb.suggested")) == 12 - len(picked)
    tagged = {i.id for i in trainer.get_tagged_images(project.id, tag_ids=[sneaker.id], take=256)}
    assert picked_ids <= tagged
    assert len(tagged) == 8 + len(picked)
    right = len(picked_ids & sneaker_ids)
    print(f"smart labeler: {len(picked)} suggested as sneaker, {right} are (precision {right / len(picked):.2f})")
    assert right / len(picked) >= 0.8
