"""Chromium walks the rest of the workspace: files dropped on the drop zone (one not an
image) with a readable summary and counts that update in place, filtering by two tags,
renaming a tag, Select all then bulk untag, Select page then bulk delete (the confirmation
first dismissed, then accepted), a quick test by image URL, stored predictions filtered
by iteration and sorted most uncertain first, Unpublish and Delete iteration (confirmed),
the classification type changed in Settings, and a key regenerated after its
confirmation. (The usage bars' colours are checked in AppTests.PortalPageTests.)"""
import base64
import http.server
import os
import tempfile
import threading

import pytest
from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry
from msrest.authentication import ApiKeyCredentials
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import Server, make_account
from portal_checks import PageAudit
from test_portal_chromium import browser, submit_credentials, wait_url  # noqa: F401  (fixture)
from test_portal_workspace_chromium import flash, wait_trained
from test_quickstart_classification import fashion

WAITS = (StaleElementReferenceException, NoSuchElementException, WebDriverException)


class _Image(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def url_server():
    """A server that may fetch image URLs on 127.0.0.1 (the test allowance), on SQLite."""
    s = Server()
    s.env["SIGHTLINE_TEST_ALLOW_LOOPBACK_URLS"] = "1"
    s.start()
    yield s
    s.stop()


DROP = """
var zone = document.getElementById('dropzone'), files = arguments[0], dt = new DataTransfer();
files.forEach(function (f) {
  var raw = atob(f[1]), bytes = new Uint8Array(raw.length);
  for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  dt.items.add(new File([bytes], f[0], {type: f[2]}));
});
['dragenter', 'dragover', 'drop'].forEach(function (type) {
  zone.dispatchEvent(new DragEvent(type, {dataTransfer: dt, bubbles: true, cancelable: true}));
});
"""


def filter_count(b, value):
    return b.find_element(By.CSS_SELECTOR, f'#filters a[data-filter="{value}"]').text


def test_more_workspace_flows(url_server, browser):  # noqa: F811
    server = url_server
    token = server.create_admin()
    acct = make_account(server, token, "more@example.com", tier="S0", name="more")
    trainer = CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))
    project = trainer.create_project("Closet", classification_type="Multiclass")
    sneaker, trouser = trainer.create_tag(project.id, "sneaker"), trainer.create_tag(project.id, "trouser")
    entries = [ImageFileCreateEntry(name=f"s{i}.png", contents=d, tag_ids=[sneaker.id]) for i, d in enumerate(fashion("train", 7, 6))]
    entries += [ImageFileCreateEntry(name=f"t{i}.png", contents=d, tag_ids=[trouser.id]) for i, d in enumerate(fashion("train", 1, 6))]
    assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    base = f"{server.url}/accounts/{acct['id']}/projects/{project.id}"

    b = browser
    b.get(server.url + "/signin")
    submit_credentials(b, "more@example.com", "password-123")

    # Drop two images and a text file on the drop zone: a summary in words, counts updated in place.
    b.get(base)
    assert filter_count(b, "all") == "All (12)"
    dropped = [[f"d{i}.png", base64.b64encode(d).decode(), "image/png"] for i, d in enumerate(fashion("train", 3, 2))]
    dropped.append(["notes.txt", base64.b64encode(b"not a picture at all").decode(), "text/plain"])
    b.execute_script(DROP, dropped)
    WebDriverWait(b, 60).until(lambda d: d.find_element(By.ID, "uploader").get_attribute("data-finished") == "3")
    summary = b.find_element(By.ID, "upload-summary").text
    assert "2 added" in summary and "1 not an image" in summary, summary
    WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: filter_count(d, "all") == "All (14)")
    assert filter_count(b, "untagged") == "Untagged (2)"
    assert trainer.get_image_count(project.id) == 14

    # Two tag filters show the images with either tag.
    b.find_element(By.CSS_SELECTOR, f'#filters a[data-filter="{sneaker.id}"]').click()
    WebDriverWait(b, 30).until(lambda d: "tags=" in d.current_url)
    assert len(b.find_elements(By.CSS_SELECTOR, "#gallery input.pick")) == 6
    b.find_element(By.CSS_SELECTOR, f'#filters a[data-filter="{trouser.id}"]').click()
    WebDriverWait(b, 30).until(lambda d: trouser.id in d.current_url and sneaker.id in d.current_url)
    assert len(b.find_elements(By.CSS_SELECTOR, "#gallery input.pick")) == 12
    assert len(b.find_elements(By.CSS_SELECTOR, "#filters a.filter.active")) == 2

    # Rename a tag in place.
    b.get(base)
    item = b.find_element(By.CSS_SELECTOR, f'li[data-tag="{trouser.id}"]')
    item.find_element(By.TAG_NAME, "summary").click()
    field = item.find_element(By.CSS_SELECTOR, "input.rename-tag")
    field.clear()
    field.send_keys("trousers")
    item.find_element(By.CSS_SELECTOR, "button").click()
    assert "Tag renamed to trousers" in flash(b)
    assert filter_count(b, trouser.id) == "trousers (6)"
    assert {t.name for t in trainer.get_tags(project.id)} == {"sneaker", "trousers"}

    # Select all under the sneaker filter, then untag them all at once.
    b.get(f"{base}?tags={sneaker.id}")
    b.find_element(By.ID, "select-all").click()
    assert b.find_element(By.ID, "selection-count").text == "All 6 matching images selected"
    Select(b.find_element(By.ID, "bulk-tag")).select_by_visible_text("sneaker")
    b.find_element(By.ID, "bulk-untag-button").click()
    assert "6" in flash(b)
    assert filter_count(b, sneaker.id) == "sneaker (0)"
    assert trainer.get_untagged_image_count(project.id) == 8

    # Select page on the untagged images, delete: dismissed first (nothing goes), then accepted.
    b.get(base + "?tag=untagged")
    b.find_element(By.ID, "select-page").click()
    assert b.find_element(By.ID, "selection-count").text == "8 images selected"
    b.find_element(By.ID, "bulk-delete-button").click()
    alert = b.switch_to.alert
    assert "Delete 8 images?" in alert.text, alert.text
    alert.dismiss()
    assert trainer.get_image_count(project.id) == 14
    b.find_element(By.ID, "bulk-delete-button").click()
    b.switch_to.alert.accept()
    assert "8" in flash(b)
    assert trainer.get_image_count(project.id) == 6
    entries = [ImageFileCreateEntry(name=f"n{i}.png", contents=d, tag_ids=[sneaker.id]) for i, d in enumerate(fashion("train", 7, 6, skip=6))]
    assert trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=entries)).is_batch_successful

    # Two iterations, each quick-tested: by file on the first, by URL on both.
    images = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Image)
    threading.Thread(target=images.serve_forever, daemon=True).start()
    _Image.body = fashion("t10k", 1, 1)[0]
    image_url = f"http://127.0.0.1:{images.server_address[1]}/trouser.png"
    try:
        for n in (1, 2):
            if n == 2:
                trainer.create_images_from_files(project.id, ImageFileCreateBatch(images=[
                    ImageFileCreateEntry(name="extra.png", contents=fashion("train", 1, 1, skip=6)[0], tag_ids=[trouser.id])]))
            b.get(base)
            b.find_element(By.ID, "train").click()
            b.find_element(By.ID, "train-button").click()
            wait_url(b, "/performance")
            wait_trained(b, f"Iteration {n}")
            b.get(base + "/performance")
            b.find_element(By.ID, "quick-test").click()
            url_field = b.find_element(By.ID, "quicktest-url")
            url_field.send_keys(image_url)
            b.find_element(By.ID, "quicktest-button").click()
            WebDriverWait(b, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#quicktest-results .prediction"))
            results = b.find_element(By.ID, "quicktest-results")
            assert results.is_displayed() and "trousers" in results.text, results.text
            if n == 1:
                b.get(base + "/performance")
                b.find_element(By.ID, "quick-test").click()
                path = os.path.join(tempfile.mkdtemp(), "q.png")
                with open(path, "wb") as f:
                    f.write(fashion("t10k", 7, 1)[0])
                b.find_element(By.ID, "quicktest-file").send_keys(path)
                b.find_element(By.ID, "quicktest-button").click()
                WebDriverWait(b, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#quicktest-results .prediction"))
    finally:
        images.shutdown()
    iterations = {it.name: it for it in trainer.get_iterations(project.id)}

    # Stored predictions: filtered by iteration, and most uncertain first.
    b.get(base + "/predictions")
    assert len(b.find_elements(By.CSS_SELECTOR, ".stored-prediction")) == 3
    Select(b.find_element(By.ID, "prediction-iteration")).select_by_visible_text("Iteration 1")
    Select(b.find_element(By.ID, "prediction-sort")).select_by_value("uncertain")
    b.find_element(By.ID, "prediction-filter-button").click()
    WebDriverWait(b, 30).until(lambda d: "iteration=" in d.current_url and "sort=uncertain" in d.current_url)
    cards = b.find_elements(By.CSS_SELECTOR, ".stored-prediction")
    assert len(cards) == 2
    tops = [float(c.find_element(By.CSS_SELECTOR, ".usage.prediction span").text.rsplit(": ", 1)[1].rstrip("%")) for c in cards]
    assert [abs(t - 50) for t in tops] == sorted(abs(t - 50) for t in tops), tops
    assert all("Iteration 1" in c.text for c in cards)

    # Publish Iteration 2, then unpublish it (confirmed), then delete Iteration 1 (confirmed).
    second = iterations["Iteration 2"]
    b.get(f"{base}/performance?iteration={second.id}")
    b.find_element(By.ID, "open-publish").click()
    audit = PageAudit(b, server.url)
    audit.look("publish-dialog")
    problems = audit.finish()
    assert not problems, "\n".join(problems)
    b.find_element(By.ID, "publish").click()
    assert "Published as" in flash(b)
    b.find_element(By.ID, "unpublish").click()
    alert = b.switch_to.alert
    assert "Unpublish Iteration 2?" in alert.text
    alert.accept()
    assert "Iteration 2 unpublished." in flash(b)
    assert trainer.get_iteration(project.id, second.id).publish_name is None
    b.get(f"{base}/performance?iteration={iterations['Iteration 1'].id}")
    b.find_element(By.CSS_SELECTOR, "#delete-iteration button").click()
    alert = b.switch_to.alert
    assert "Delete Iteration 1?" in alert.text
    alert.accept()
    flash(b)
    assert [it.name for it in trainer.get_iterations(project.id)] == ["Iteration 2"]
    assert "Iteration 1" not in b.find_element(By.ID, "iterations").text

    # Settings: the classification type changes.
    b.get(base + "/settings")
    b.find_element(By.ID, "settings-multilabel").click()
    b.find_element(By.ID, "settings-save").click()
    flash(b)
    assert trainer.get_project(project.id).settings.classification_type == "Multilabel"
    assert b.find_element(By.ID, "settings-multilabel").is_selected()

    # A key is regenerated only once its confirmation is accepted; the new one is shown to copy.
    b.get(f"{server.url}/accounts/{acct['id']}")
    b.find_element(By.ID, "regen-training-1").click()
    alert = b.switch_to.alert
    assert "Regenerate" in alert.text
    alert.dismiss()
    assert trainer.get_project(project.id).name == "Closet"   # the old key still works
    b.find_element(By.ID, "regen-training-1").click()
    b.switch_to.alert.accept()
    assert "regenerated" in flash(b)
    new_key = b.find_element(By.CSS_SELECTOR, "code.new-key").get_attribute("data-value")
    assert len(new_key) == 32 and new_key != acct["trainingKeys"][0]
    fresh = CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": new_key}))
    assert fresh.get_project(project.id).name == "Closet"
