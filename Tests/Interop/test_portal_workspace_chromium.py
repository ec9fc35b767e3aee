"""Chromium walks the project workspace as a user would: the projects home and its New
project dialog (an error shown in place with the input kept), bulk tagging of a
shift-selected range, the image viewer's arrow keys and its multiclass rule, a
confirmation that can be cancelled, the Prediction URL copied to the clipboard, a
stored prediction added back with two tags, and a domain change in Settings followed by
a retrain on the new domain."""
import os
import tempfile

from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry
from msrest.authentication import ApiKeyCredentials
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import make_account
from test_portal_chromium import browser, fill, submit_credentials, wait_url  # noqa: F401  (fixture)
from test_quickstart_classification import fashion

WAITS = (StaleElementReferenceException, NoSuchElementException, WebDriverException)


def flash(b):
    return WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: d.find_element(By.ID, "flash").text)


def wait_trained(b, name):
    """On the Performance tab: waits until `name` is Completed in the iteration list."""
    def done(d):
        for li in d.find_elements(By.CSS_SELECTOR, "#iterations li"):
            if li.find_element(By.TAG_NAME, "a").text == name:
                return li.find_element(By.CSS_SELECTOR, ".it-status").text == "Completed"
        return False
    WebDriverWait(b, 300, poll_frequency=1, ignored_exceptions=WAITS).until(done)


def test_workspace_flows(server, browser):  # noqa: F811
    token = server.create_admin()
    acct = make_account(server, token, "work@example.com", tier="F0", name="bench")
    trainer = CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))
    project = trainer.create_project("Wardrobe", classification_type="Multiclass")
    sneaker, trouser = trainer.create_tag(project.id, "sneaker"), trainer.create_tag(project.id, "trouser")
    entries = [ImageFileCreateEntry(name=f"s{i}.png", contents=d, tag_ids=[sneaker.id]) for i, d in enumerate(fashion("train", 7, 6))]
    entries += [ImageFileCreateEntry(name=f"t{i}.png", contents=d) for i, d in enumerate(fashion("train", 1, 6))]
    assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful

    b = browser
    b.get(server.url + "/signin")
    submit_credentials(b, "work@example.com", "password-123")
    # New project dialog: the classification type shows only for classification.
    b.find_element(By.ID, "new-project").click()
    b.find_element(By.ID, "type-detection").click()
    assert not b.find_element(By.ID, "classification-types").is_displayed()
    b.find_element(By.ID, "type-classification").click()
    assert b.find_element(By.ID, "classification-types").is_displayed()
    assert b.find_element(By.ID, "domain-description").text
    fill(b, "name", "Second", form="create-project")
    b.find_element(By.ID, "create-project-button").click()
    wait_url(b, "/projects/")
    assert "Project Second created" in flash(b)
    # F0 allows two projects: the third is refused in the dialog, the name kept, still signed in.
    b.find_element(By.ID, "nav-projects").click()
    b.find_element(By.ID, "new-project").click()
    fill(b, "name", "Third one", form="create-project")
    b.find_element(By.ID, "create-project-button").click()
    WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: d.find_element(By.ID, "new-project-error").is_displayed())
    assert "not created" in b.find_element(By.ID, "new-project-error").text
    assert b.find_element(By.ID, "project-name").get_attribute("value") == "Third one"
    assert b.find_element(By.ID, "who").text == "work@example.com"

    base = f"{server.url}/accounts/{acct['id']}/projects/{project.id}"
    # Bulk: select the 2nd untagged image, shift-click the 5th: four selected, tagged at once.
    b.get(base + "?tag=untagged")
    picks = b.find_elements(By.CSS_SELECTOR, "#gallery input.pick")
    assert len(picks) == 6
    picks[1].click()
    ActionChains(b).key_down(Keys.SHIFT).click(picks[4]).key_up(Keys.SHIFT).perform()
    assert b.find_element(By.ID, "selection-count").text == "4 images selected"
    chosen = {p.get_attribute("value") for p in picks if p.is_selected()}
    assert chosen == {picks[i].get_attribute("value") for i in range(1, 5)}
    Select(b.find_element(By.ID, "bulk-tag")).select_by_visible_text("trouser")
    b.find_element(By.ID, "bulk-tag-button").click()
    assert "4 images tagged trouser" in flash(b)
    assert len(b.find_elements(By.CSS_SELECTOR, "#gallery input.pick")) == 2     # the filter is kept
    tagged = {i.id for i in trainer.get_tagged_images(project.id, tag_ids=[trouser.id], take=50)}
    assert tagged == chosen
    trouser_link = b.find_element(By.CSS_SELECTOR, f'#filters a[data-filter="{trouser.id}"]')
    assert trouser_link.text == "trouser (4)"

    # Viewer: arrow keys walk the list it was opened from.
    b.get(base)
    b.find_elements(By.CSS_SELECTOR, "#gallery a.thumb")[0].click()
    wait_url(b, "/images/")
    assert b.find_element(By.ID, "viewer-position").text == "Image 1 of 12"
    first = b.current_url
    b.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_RIGHT)
    WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: d.find_element(By.ID, "viewer-position").text == "Image 2 of 12")
    b.find_element(By.TAG_NAME, "body").send_keys(Keys.ARROW_LEFT)
    WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: d.current_url == first)
    # Multiclass: a second tag on a tagged image is refused with a message.
    if b.find_elements(By.CSS_SELECTOR, "#image-tags .chip.untagged"):
        Select(b.find_element(By.ID, "image-tag-select")).select_by_visible_text("sneaker")
        b.find_element(By.ID, "add-image-tag-button").click()
        WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: "sneaker" in d.find_element(By.ID, "image-tags").text)
    current = b.find_element(By.CSS_SELECTOR, "#image-tags .chip").get_attribute("data-tag")
    other = "trouser" if current == sneaker.id else "sneaker"
    Select(b.find_element(By.ID, "image-tag-select")).select_by_visible_text(other)
    b.find_element(By.ID, "add-image-tag-button").click()
    error = WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: d.find_element(By.ID, "error").text)
    assert "one tag per image" in error, error

    # A confirmation can be cancelled: the tag stays; accepted, it goes.
    spare = trainer.create_tag(project.id, "spare")
    b.get(base)
    b.find_element(By.CSS_SELECTOR, f'li[data-tag="{spare.id}"] summary').click()
    b.find_element(By.CSS_SELECTOR, f'li[data-tag="{spare.id}"] button.danger').click()
    alert = b.switch_to.alert
    assert "Delete the tag spare" in alert.text
    alert.dismiss()
    b.get(base)
    assert b.find_elements(By.CSS_SELECTOR, f'li[data-tag="{spare.id}"]')
    assert spare.id in {t.id for t in trainer.get_tags(project.id)}
    b.find_element(By.CSS_SELECTOR, f'li[data-tag="{spare.id}"] summary').click()
    b.find_element(By.CSS_SELECTOR, f'li[data-tag="{spare.id}"] button.danger').click()
    b.switch_to.alert.accept()
    assert "spare" in flash(b)
    assert spare.id not in {t.id for t in trainer.get_tags(project.id)}
    assert not b.find_elements(By.CSS_SELECTOR, f'li[data-tag="{spare.id}"]')

    # Train, publish, and copy the Prediction URL.
    for img in trainer.get_untagged_images(project.id, take=50):
        trainer.create_image_tags(project.id, tags=[{"image_id": img.id, "tag_id": trouser.id}])
    b.get(base)
    b.find_element(By.ID, "train").click()
    b.find_element(By.ID, "train-button").click()
    wait_url(b, "/performance")
    wait_trained(b, "Iteration 1")
    b.get(base + "/performance")
    b.find_element(By.ID, "open-publish").click()
    b.find_element(By.ID, "publish").click()
    assert "Published as classifyModel" in flash(b)
    b.execute_cdp_cmd("Browser.grantPermissions", {"origin": server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    b.find_element(By.ID, "prediction-url").click()
    shown = b.find_element(By.ID, "prediction-image-url").get_attribute("data-value")
    assert shown == f"{server.url}/customvision/v3.0/Prediction/{project.id}/classify/iterations/classifyModel/image"
    b.find_element(By.ID, "copy-prediction-image-url").click()
    WebDriverWait(b, 30).until(lambda d: d.find_element(By.ID, "copy-prediction-image-url").get_attribute("data-copied") == "true")
    clipboard = b.execute_async_script("var done = arguments[0]; navigator.clipboard.readText().then(done, function (e) { done('error: ' + e); });")
    assert clipboard == shown
    curl = b.find_element(By.ID, "prediction-curl").get_attribute("data-value")
    assert curl.startswith(f"curl -X POST '{shown}' -H \"Prediction-Key: $PREDICTION_KEY\"") and "--data-binary @image.jpg" in curl
    b.find_element(By.CSS_SELECTOR, "#prediction-url-dialog [data-close-dialog]").click()

    # Quick test stores a prediction; its viewer adds the image back with the tag chosen.
    tmp = tempfile.mkdtemp()
    test_image = os.path.join(tmp, "q.png")
    with open(test_image, "wb") as f:
        f.write(fashion("t10k", 7, 1)[0])
    b.find_element(By.ID, "quick-test").click()
    b.find_element(By.ID, "quicktest-file").send_keys(test_image)
    b.find_element(By.ID, "quicktest-button").click()
    WebDriverWait(b, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#quicktest-results .prediction"))
    assert b.find_element(By.CSS_SELECTOR, "#quicktest-results").is_displayed()
    b.get(base + "/predictions?sort=uncertain")
    b.find_element(By.CSS_SELECTOR, ".stored-prediction a").click()
    wait_url(b, "/predictions/")
    radios = b.find_elements(By.CSS_SELECTOR, "input.correct-tag")
    assert [r.get_attribute("type") for r in radios] == ["radio", "radio"]   # multiclass: one tag
    b.find_element(By.ID, "add-prediction").click()
    assert "Added to the training set." in flash(b)

    # Settings: change the domain; the next training uses it.
    b.find_element(By.ID, "settings").click()
    wait_url(b, "/settings")
    described = b.find_element(By.ID, "settings-domain-description").text
    Select(b.find_element(By.ID, "settings-domain")).select_by_visible_text("General (compact)")
    assert b.find_element(By.ID, "settings-domain-description").text not in ("", described)
    b.find_element(By.ID, "settings-save").click()
    message = flash(b)
    assert "General (compact)" in message and "next training" in message, message
    assert b.find_element(By.ID, "settings-platforms")
    b.find_element(By.ID, "train").click()
    b.find_element(By.ID, "train-button").click()
    wait_url(b, "/performance")
    wait_trained(b, "Iteration 2")
    b.get(base + "/performance")
    second = [li for li in b.find_elements(By.CSS_SELECTOR, "#iterations li") if li.find_element(By.TAG_NAME, "a").text == "Iteration 2"][0]
    assert "General (compact)" in second.text, second.text
    b.find_element(By.LINK_TEXT, "Iteration 2").click()
    WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: d.find_elements(By.ID, "export-form"))
    iterations = {it.name: it for it in trainer.get_iterations(project.id)}
    assert iterations["Iteration 2"].domain_id == "0732100f-1a38-4e49-a514-c9b44c697ab5"
    assert iterations["Iteration 1"].domain_id == "ee85a74c-405e-4adc-bb47-ffa8ca0c9f31"

    # Deleting the project, confirmed, is refused in place while an iteration is published.
    b.get(base + "/settings")
    b.find_element(By.ID, "delete-project-button").click()
    b.switch_to.alert.accept()
    error = WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: d.find_element(By.ID, "error").text)
    assert "unpublish" in error.lower(), error
    assert b.find_element(By.ID, "project-title").text == "Wardrobe"
