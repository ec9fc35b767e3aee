"""Chromium trains from the portal, watches progress reach 100 %, moves the threshold
slider and sees precision/recall change, quick-tests an image, publishes and exports."""
import io
import os
import tempfile
import zipfile

import requests

from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_portal_chromium import browser, wait_url  # noqa: F401  (fixture)
from test_portal_images_chromium import add_tag, create_project, sign_up_with_account
from test_quickstart_classification import fashion


def upload(b, paths, tag_index):
    boxes = b.find_elements(By.CSS_SELECTOR, "input.batch-tag")
    for i, box in enumerate(boxes):
        if box.is_selected() != (i == tag_index):
            box.click()
    before = int(b.find_element(By.ID, "uploader").get_attribute("data-finished") or 0)
    file_input = b.find_element(By.ID, "file-input")
    b.execute_script("arguments[0].style.display = 'block'", file_input)
    file_input.send_keys("\n".join(paths))
    WebDriverWait(b, 60).until(lambda d: int(d.find_element(By.ID, "uploader").get_attribute("data-finished") or 0) == before + len(paths))


def test_train_progress_threshold_quick_test_publish(server, browser):  # noqa: F811
    b = browser
    sign_up_with_account(b, server)
    project_url = create_project(b, "Shoes or trousers", "General (compact) — Classification")
    add_tag(b, "sneaker")
    add_tag(b, "trouser")
    tmp = tempfile.mkdtemp()

    def save(images, prefix):
        paths = []
        for i, data in enumerate(images):
            p = os.path.join(tmp, f"{prefix}{i}.png")
            with open(p, "wb") as f:
                f.write(data)
            paths.append(p)
        return paths

    upload(b, save(fashion("train", 7, 8), "s"), 0)
    upload(b, save(fashion("train", 1, 8), "t"), 1)

    b.get(project_url)
    b.find_element(By.ID, "train").click()      # the Train dialog: Quick is chosen
    b.find_element(By.ID, "train-button").click()
    wait_url(b, "/performance")
    WebDriverWait(b, 120, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#iterations .it-status").text == "Completed")
    assert b.find_element(By.CSS_SELECTOR, "#iterations progress").get_attribute("value") == "100"

    b.find_element(By.LINK_TEXT, "Iteration 1").click()
    wait_url(b, "/performance?iteration=")
    precision, recall = b.find_element(By.ID, "precision").text, b.find_element(By.ID, "recall").text
    slider = b.find_element(By.ID, "threshold")
    slider.click()
    slider.send_keys(Keys.HOME)  # threshold 0: every tag predicted
    mark = b.find_element(By.CSS_SELECTOR, "svg.pr-curve .threshold-mark")
    assert mark.get_attribute("cx") == "242", "at 0 % the mark sits at recall 100 %"
    assert b.find_element(By.ID, "threshold-value").text == "0%"
    assert b.find_element(By.ID, "recall").text == "100.0%"
    assert b.find_element(By.ID, "precision").text == "50.0%"
    slider.send_keys(Keys.END)   # threshold 100 %: nothing reaches it
    assert b.find_element(By.ID, "recall").text != "100.0%"
    assert (precision, recall) != (b.find_element(By.ID, "precision").text, b.find_element(By.ID, "recall").text)
    assert mark.get_attribute("cx") != "242", "at 100 % the mark has left recall 100 %"
    assert len(b.find_elements(By.CSS_SELECTOR, "svg.pr-curve")) == 2

    test_image = save(fashion("t10k", 7, 1), "q")[0]
    b.find_element(By.ID, "quick-test").click()
    b.find_element(By.ID, "quicktest-file").send_keys(test_image)
    b.find_element(By.ID, "quicktest-button").click()
    try:
        WebDriverWait(b, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#quicktest-results .prediction"))
    except Exception:
        raise AssertionError(b.find_element(By.TAG_NAME, "main").text[:500])
    first = b.find_elements(By.CSS_SELECTOR, "#quicktest-results .prediction")[0]
    assert first.get_attribute("data-tag") == "sneaker", first.text
    b.find_element(By.CSS_SELECTOR, "#quicktest-dialog [data-close-dialog]").click()

    b.find_element(By.ID, "open-publish").click()
    b.find_element(By.ID, "publish").click()
    WebDriverWait(b, 30, ignored_exceptions=(NoSuchElementException,)).until(
        lambda d: "Published as classifyModel" in d.find_element(By.ID, "published").text)

    # Export from the menu; the page reloads itself until the download link is there.
    Select(b.find_element(By.ID, "export-target")).select_by_value("ONNX|ONNX10")
    b.find_element(By.ID, "export-button").click()
    wait_url(b, "#export")
    WebDriverWait(b, 120, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException)).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "a.export-download[data-flavor='ONNX10']"))
    link = b.find_element(By.CSS_SELECTOR, "a.export-download[data-flavor='ONNX10']").get_attribute("href")
    assert link.startswith(server.url + "/blobs/")
    archive = zipfile.ZipFile(io.BytesIO(requests.get(link, timeout=60).content))
    assert sorted(archive.read("labels.txt").decode().split()) == ["sneaker", "trouser"]
    assert "model.onnx" in archive.namelist()

    # The prediction stored by the quick test: confirm its tag and add it to the training set.
    b.find_element(By.ID, "tab-predictions").click()
    wait_url(b, "/predictions")
    item = b.find_element(By.CSS_SELECTOR, ".stored-prediction")
    assert "sneaker" in item.text
    item.find_element(By.CSS_SELECTOR, "button.add-prediction").click()
    WebDriverWait(b, 30, ignored_exceptions=(NoSuchElementException,)).until(
        lambda d: "Added to the training set." in d.find_element(By.ID, "flash").text)
    assert not b.find_elements(By.CSS_SELECTOR, ".stored-prediction")
    b.get(project_url)
    sneaker = [a for a in b.find_elements(By.CSS_SELECTOR, "#filters a") if a.text.startswith("sneaker")][0]
    assert sneaker.text == "sneaker (9)"
