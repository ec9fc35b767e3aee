"""Chromium drives the image pages: upload 10 files with per-file progress, tag them,
filter, and draw a box on a detection project that is still there after a reload."""
import os
import tempfile

from selenium.webdriver.common.action_chains import ActionChains
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from test_portal_chromium import browser, create_account, fill, submit_credentials, wait_saved, wait_url  # noqa: F401  (fixture)
from test_sdk_images import jpeg


def sign_up_with_account(b, server):
    b.get(server.url + "/signup")
    submit_credentials(b, "gallery@example.com", "gallery-password")
    create_account(b, "gallery")


def create_project(b, name, domain_label):
    """New project from the Projects page's dialog. `domain_label` is "Domain — type"."""
    domain, kind = domain_label.split(" — ", 1)
    b.find_element(By.ID, "nav-projects").click()
    wait_url(b, "/projects")
    b.find_element(By.ID, "new-project").click()
    b.find_element(By.ID, "type-detection" if kind.startswith("Object detection") else "type-classification").click()
    fill(b, "name", name, form="create-project")
    data_type = "ObjectDetection" if kind.startswith("Object detection") else "Classification"
    b.find_element(By.XPATH, f"//select[@id='project-domain']/option[@data-type='{data_type}' and normalize-space(.)='{domain}']").click()
    b.find_element(By.ID, "create-project-button").click()
    wait_url(b, "/projects/")
    return b.current_url


def add_tag(b, name):
    fill(b, "name", name, form="add-tag")
    b.find_element(By.ID, "add-tag-button").click()
    WebDriverWait(b, 30).until(lambda d: f"Tag {name} added." in d.page_source)


def test_upload_tag_filter_and_draw_a_box(server, browser):  # noqa: F811
    b = browser
    sign_up_with_account(b, server)
    project_url = create_project(b, "Gallery", "General — Classification")
    add_tag(b, "cat")
    add_tag(b, "dog")

    tmp = tempfile.mkdtemp()
    paths = []
    for i in range(10):
        path = os.path.join(tmp, f"photo{i}.jpg")
        with open(path, "wb") as f:
            f.write(jpeg(500 + i))
        paths.append(path)
    # Tick "cat" for the batch, then choose ten files.
    b.find_element(By.CSS_SELECTOR, "input.batch-tag").click()
    file_input = b.find_element(By.ID, "file-input")
    b.execute_script("arguments[0].style.display = 'block'", file_input)
    file_input.send_keys("\n".join(paths))
    WebDriverWait(b, 60).until(lambda d: d.find_element(By.ID, "uploader").get_attribute("data-finished") == "10")
    rows = b.find_elements(By.CSS_SELECTOR, "#upload-list li.upload")
    assert len(rows) == 10
    assert all(r.get_attribute("data-status") == "OK" for r in rows), [r.text for r in rows]
    assert all(r.find_element(By.TAG_NAME, "progress").get_attribute("value") == "100" for r in rows)
    # The batch in words, and the sidebar's counts, without a reload.
    assert b.find_element(By.ID, "upload-summary").text == "10 added"
    assert b.find_element(By.CSS_SELECTOR, '#filters a[data-filter="all"]').text == "All (10)"
    assert b.find_element(By.CSS_SELECTOR, '#filters a[data-filter="untagged"]').text == "Untagged (0)"
    # The same files again are duplicates, said so.
    file_input.send_keys("\n".join(paths[:2]))
    WebDriverWait(b, 60).until(lambda d: d.find_element(By.ID, "uploader").get_attribute("data-finished") == "12")
    assert b.find_element(By.ID, "upload-summary").text == "10 added, 2 duplicates skipped"
    assert "Already in the project" in b.find_elements(By.CSS_SELECTOR, "#upload-list li.upload")[-1].text

    b.get(project_url)
    assert len(b.find_elements(By.CSS_SELECTOR, "#gallery a.thumb")) == 10
    assert "cat (10)" in b.find_element(By.ID, "filters").text
    # Filter: untagged is empty, cat has all ten.
    b.find_element(By.CSS_SELECTOR, '#filters a[data-filter="untagged"]').click()
    wait_url(b, "tag=untagged")
    assert len(b.find_elements(By.CSS_SELECTOR, "#gallery a.thumb")) == 0
    # Tag one image "dog" on its page, then filter by dog.
    b.get(project_url)
    b.find_element(By.CSS_SELECTOR, "#gallery a.thumb").click()
    wait_url(b, "/images/")
    Select(b.find_element(By.ID, "image-tag-select")).select_by_visible_text("dog")
    b.find_element(By.ID, "add-image-tag-button").click()
    # The form posts and the page reloads: an element looked up mid-navigation may be gone.
    WebDriverWait(b, 30, ignored_exceptions=(StaleElementReferenceException, NoSuchElementException, WebDriverException)).until(
        lambda d: "dog" in d.find_element(By.ID, "image-tags").text)
    b.get(project_url)
    dog = [a for a in b.find_elements(By.CSS_SELECTOR, "#filters a") if a.text.startswith("dog")][0]
    assert dog.text == "dog (1)"
    dog.click()
    wait_url(b, "tags=")
    assert len(b.find_elements(By.CSS_SELECTOR, "#gallery a.thumb")) == 1

    # Object detection: draw a box, reload, it is there; the API sees it too.
    od_url = create_project(b, "Boxes", "General — Object detection (preview)")
    add_tag(b, "car")
    file_input = b.find_element(By.ID, "file-input")
    b.execute_script("arguments[0].style.display = 'block'", file_input)
    big = os.path.join(tmp, "street.jpg")
    with open(big, "wb") as f:
        f.write(jpeg(900, size=(400, 300)))
    file_input.send_keys(big)
    WebDriverWait(b, 30).until(lambda d: d.find_element(By.ID, "uploader").get_attribute("data-finished") == "1")
    b.get(od_url)
    b.find_element(By.CSS_SELECTOR, "#gallery a.thumb").click()
    wait_url(b, "/images/")
    image_url = b.current_url
    img = b.find_element(By.ID, "editor-image")
    WebDriverWait(b, 30).until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", img))
    w, h = img.size["width"], img.size["height"]
    ActionChains(b).move_to_element_with_offset(img, int(-w * 0.3), int(-h * 0.3)).click_and_hold() \
        .move_by_offset(int(w * 0.4), int(h * 0.4)).release().perform()
    wait_saved(b, 1)
    b.get(image_url)
    boxes = b.find_elements(By.CSS_SELECTOR, "#box-editor .box")
    assert len(boxes) == 1
    assert boxes[0].find_element(By.CLASS_NAME, "label").text == "car"
    # Move it, then delete it; each change is saved.
    ActionChains(b).move_to_element(boxes[0]).click_and_hold().move_by_offset(20, 10).release().perform()
    wait_saved(b, 1)
    b.get(image_url)
    box = b.find_element(By.CSS_SELECTOR, "#box-editor .box")
    left = float(box.value_of_css_property("left").rstrip("px"))
    width = b.find_element(By.ID, "editor-image").size["width"]
    assert left > 0.2 * width + 10, (left, width)
    box.click()
    b.find_element(By.ID, "delete-box").click()
    wait_saved(b, 0)
    b.get(image_url)
    assert len(b.find_elements(By.CSS_SELECTOR, "#box-editor .box")) == 0
    # The keyboard alone: N draws a box, arrows move it (saved), + zooms.
    editor = b.find_element(By.ID, "box-editor")
    editor.send_keys("n")
    wait_saved(b, 1)
    before = float(b.find_element(By.CSS_SELECTOR, "#box-editor .box").value_of_css_property("left").rstrip("px"))
    editor.send_keys(Keys.SHIFT + Keys.ARROW_RIGHT)
    WebDriverWait(b, 30).until(lambda d: float(d.find_element(By.CSS_SELECTOR, "#box-editor .box").value_of_css_property("left").rstrip("px")) > before)
    wait_saved(b, 1)  # moves are saved once the keys stop
    editor.send_keys("+")
    assert b.find_element(By.ID, "zoom-level").text == "125%"
    b.get(image_url)
    moved = b.find_elements(By.CSS_SELECTOR, "#box-editor .box")
    assert len(moved) == 1
    assert float(moved[0].value_of_css_property("left").rstrip("px")) > before, "the keyboard move was saved"
