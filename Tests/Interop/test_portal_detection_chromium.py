"""Chromium and object detection: a box is labelled in the editor (the rest of the
composites arrive with regions through the API, as a migration would bring them), the
project trains from the portal, the iteration page's probability and overlap sliders
change mAP, a quick test draws boxes over the image, "Suggest boxes" proposes the
trained iteration's boxes on a new image, the detection pages pass axe-core, the Nu
checker and the 400 px check, and a stored prediction goes back to the training set and
opens in the box editor to be corrected."""
import base64
import json
import os

import requests
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from portal_checks import PageAudit
from test_portal_chromium import browser, create_account, new_keys, submit_credentials, wait_saved, wait_url  # noqa: F401  (fixture)
from test_portal_images_chromium import add_tag, create_project
from test_quickstart_detection import COMPOSITES

WAITS = (StaleElementReferenceException, NoSuchElementException)


def manifest():
    with open(os.path.join(COMPOSITES, "manifest.json")) as f:
        return json.load(f)


def test_label_train_and_see_detections(server, browser):  # noqa: F811
    b = browser
    b.get(server.url + "/signup")
    submit_credentials(b, "boxes@example.com", "boxes-password")
    create_account(b, "boxes")
    key = new_keys(b)["Training key 1"]
    project_url = create_project(b, "Forks and scissors", "General (compact) — Object detection (preview)")
    project_id = project_url.rstrip("/").split("/projects/")[1].split("/")[0].split("#")[0]
    add_tag(b, "fork")
    add_tag(b, "scissors")

    api = f"{server.url}/customvision/v3.3/training/projects/{project_id}"
    tags = {t["name"]: t["id"] for t in requests.get(api + "/tags", headers={"Training-Key": key}, timeout=30).json()}
    entries = [e for e in manifest() if e["split"] == "train"]
    unlabelled = entries.pop(0)   # labelled in the browser below
    batch = [{"name": e["file"], "contents": base64.b64encode(open(os.path.join(COMPOSITES, e["file"]), "rb").read()).decode(),
              "regions": [{"tagId": tags[t], "left": x[0], "top": x[1], "width": x[2], "height": x[3]}
                          for t, x in zip(e["tags"], e["boxes"])]} for e in entries]
    r = requests.post(api + "/images/files", headers={"Training-Key": key}, json={"images": batch}, timeout=120)
    assert r.status_code == 200 and r.json()["isBatchSuccessful"], r.text

    # The first fork arrives untagged through the uploader and gets its box in the editor.
    b.get(project_url)
    for box in b.find_elements(By.CSS_SELECTOR, "input.batch-tag"):
        if box.is_selected():
            box.click()
    file_input = b.find_element(By.ID, "file-input")
    b.execute_script("arguments[0].style.display = 'block'", file_input)
    file_input.send_keys(os.path.join(COMPOSITES, unlabelled["file"]))
    WebDriverWait(b, 30).until(lambda d: d.find_element(By.ID, "uploader").get_attribute("data-finished") == "1")
    b.get(project_url + "?tag=untagged")
    b.find_element(By.CSS_SELECTOR, "#gallery a.thumb").click()
    wait_url(b, "/images/")
    img = b.find_element(By.ID, "editor-image")
    WebDriverWait(b, 30).until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img))
    w, h = img.size["width"], img.size["height"]
    left, top, bw, bh = unlabelled["boxes"][0]
    # From the box's top-left corner to its bottom-right (offsets are from the image centre).
    ActionChains(b).move_to_element_with_offset(img, int((left - 0.5) * w), int((top - 0.5) * h)).click_and_hold() \
        .move_by_offset(int(bw * w), int(bh * h)).release().perform()
    wait_saved(b, 1)

    b.get(project_url)
    b.find_element(By.ID, "train").click()
    b.find_element(By.ID, "train-button").click()
    wait_url(b, "/performance")
    WebDriverWait(b, 600, poll_frequency=2, ignored_exceptions=WAITS).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#iterations .it-status").text in ("Completed", "Failed"))
    assert b.find_element(By.CSS_SELECTOR, "#iterations .it-status").text == "Completed"

    b.find_element(By.LINK_TEXT, "Iteration 1").click()
    wait_url(b, "/performance?iteration=")
    performance_url = b.current_url
    assert b.find_element(By.ID, "detection-performance")
    first_map = b.find_element(By.ID, "map").text
    overlap = b.find_element(By.ID, "overlap")
    overlap.click()
    overlap.send_keys(Keys.END)   # boxes must match exactly: nothing counts
    assert b.find_element(By.ID, "overlap-value").text == "100%"
    assert b.find_element(By.ID, "map").text == "0.0%"
    overlap.send_keys(Keys.HOME)
    assert float(b.find_element(By.ID, "map").text.rstrip("%")) >= float(first_map.rstrip("%"))
    assert len(b.find_elements(By.CSS_SELECTOR, "#per-tag .tag-ap")) == 2

    test = [e for e in manifest() if e["split"] == "test" and e["tags"] == ["scissors"]][0]
    b.find_element(By.ID, "quick-test").click()
    b.find_element(By.ID, "quicktest-file").send_keys(os.path.join(COMPOSITES, test["file"]))
    b.find_element(By.ID, "quicktest-button").click()
    WebDriverWait(b, 120, ignored_exceptions=WAITS).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#quicktest-results .detections"))
    view = b.find_element(By.CSS_SELECTOR, "#quicktest-results .detections")
    WebDriverWait(b, 30).until(lambda d: d.execute_script(
        "var i = arguments[0].querySelector('img'); return i.complete && i.naturalWidth > 0", view))
    # The threshold slider decides what is drawn: at 0 % every detection (the most
    # probable first), at 100 % none.
    slider = b.find_element(By.CSS_SELECTOR, "#quicktest-results .detection-threshold")
    slider.click()
    slider.send_keys(Keys.HOME)
    drawn = view.find_elements(By.CSS_SELECTOR, ".box")
    assert drawn and drawn[0].text.startswith("scissors"), view.get_attribute("data-detections")[:600]
    assert view.get_attribute("data-shown") == str(len(json.loads(view.get_attribute("data-detections"))))
    slider.send_keys(Keys.END)
    assert view.get_attribute("data-shown") == "0" and not view.find_elements(By.CSS_SELECTOR, ".box")

    # A new, unlabelled image: the editor suggests the trained iteration's box.
    b.get(project_url)
    file_input = b.find_element(By.ID, "file-input")
    b.execute_script("arguments[0].style.display = 'block'", file_input)
    other = [e for e in manifest() if e["split"] == "test" and e["tags"] == ["fork"]][0]
    file_input.send_keys(os.path.join(COMPOSITES, other["file"]))
    WebDriverWait(b, 30).until(lambda d: d.find_element(By.ID, "uploader").get_attribute("data-finished") == "1")
    b.get(project_url + "?tag=untagged")
    b.find_element(By.CSS_SELECTOR, "#gallery a.thumb").click()
    wait_url(b, "/images/")
    b.find_element(By.ID, "suggest-boxes").click()
    WebDriverWait(b, 60).until(lambda d: d.find_element(By.ID, "box-editor").get_attribute("data-suggested") is not None)
    assert b.find_element(By.ID, "box-editor").get_attribute("data-suggested") != "0"
    wait_saved(b)
    labels = [e.text for e in b.find_elements(By.CSS_SELECTOR, "#box-editor .box .label")]
    assert "fork" in labels, labels

    # The detection pages and states get the checks every page gets.
    audit = PageAudit(b, server.url)
    test_path = os.path.join(COMPOSITES, test["file"])

    def quick_test(d):
        d.find_element(By.ID, "quick-test").click()
        d.find_element(By.ID, "quicktest-file").send_keys(test_path)
        d.find_element(By.ID, "quicktest-button").click()
        WebDriverWait(d, 120, ignored_exceptions=WAITS).until(lambda x: x.find_elements(By.CSS_SELECTOR, "#quicktest-results .detections"))

    audit.check("detection-performance", performance_url)
    audit.check("detection-quicktest-results", performance_url, prepare=quick_test, served=False)
    audit.check("detection-predictions", project_url + "/predictions")
    viewer = b.find_element(By.CSS_SELECTOR, ".stored-prediction a").get_attribute("href")
    audit.check("detection-prediction-viewer", viewer)
    problems = audit.finish()
    assert not problems, "\n".join(problems)

    # Added to the training set, the image opens in the box editor with the boxes to correct:
    # those the predictions list counted at 50 % or more.
    b.get(project_url + "/predictions")
    card = [c for c in b.find_elements(By.CSS_SELECTOR, ".stored-prediction")
            if c.find_element(By.CSS_SELECTOR, "a").get_attribute("href") == viewer][0]
    listed = int(card.text.split(" object")[0].split()[-1])
    b.get(viewer)
    b.find_element(By.ID, "add-prediction").click()
    wait_url(b, "/images/")
    message = WebDriverWait(b, 30, ignored_exceptions=WAITS).until(lambda d: d.find_element(By.ID, "flash").text)
    assert "correct them here" in message, message
    count = int(message.split(" with ")[1].split(" ")[0])
    assert count == listed, (message, card.text)
    assert len(b.find_elements(By.CSS_SELECTOR, "#box-editor .box")) == count
