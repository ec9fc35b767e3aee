"""Every portal page, in a real Chromium, at 1400 and 400 px wide: axe-core finds no
serious or critical violation at either width, nothing overflows sideways at 400 px, a
screenshot of each is written to screenshots/ (git-ignored), and the Nu HTML checker finds
no error in the HTML as served. Dialogs, quick-test results, forms refused in place, the
new-keys notice and the empty projects page are checked as states of their pages."""
import json
import os
import time

from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
from azure.cognitiveservices.vision.customvision.training.models import ImageFileCreateBatch, ImageFileCreateEntry
from msrest.authentication import ApiKeyCredentials
from selenium.webdriver.common.by import By

from conftest import make_account
from selenium.webdriver.support.ui import WebDriverWait

from portal_checks import PageAudit
from test_portal_chromium import browser, fill, submit_credentials, wait_url  # noqa: F401  (fixture)
from test_quickstart_classification import fashion
from test_quickstart_detection import COMPOSITES


def wait_trained(trainer, project_id, iteration_id):
    deadline = time.time() + 300
    while time.time() < deadline:
        status = trainer.get_iteration(project_id, iteration_id).status
        if status != "Training":
            return status
        time.sleep(0.5)
    raise AssertionError("training did not finish")


def test_every_page_is_accessible_valid_and_fits_400px(sqlite_server, browser):  # noqa: F811
    server = sqlite_server
    token = server.create_admin("ops@example.com")
    acct = make_account(server, token, "pages@example.com", name="studio")
    trainer = CustomVisionTrainingClient(acct["endpoint"], ApiKeyCredentials(in_headers={"Training-key": acct["trainingKeys"][0]}))
    shoes = trainer.create_project("Shoes and trousers, a project with a long name that must wrap on a phone", classification_type="Multilabel")
    sneaker, trouser = trainer.create_tag(shoes.id, "sneaker"), trainer.create_tag(shoes.id, "trouser")
    entries = [ImageFileCreateEntry(name=f"s{i}.png", contents=d, tag_ids=[sneaker.id]) for i, d in enumerate(fashion("train", 7, 6))]
    entries += [ImageFileCreateEntry(name=f"t{i}.png", contents=d, tag_ids=[trouser.id]) for i, d in enumerate(fashion("train", 1, 6))]
    entries += [ImageFileCreateEntry(name="u.png", contents=fashion("train", 7, 1, skip=6)[0])]
    assert trainer.create_images_from_files(shoes.id, ImageFileCreateBatch(images=entries)).is_batch_successful
    iteration = trainer.train_project(shoes.id)
    assert wait_trained(trainer, shoes.id, iteration.id) == "Completed"
    trainer.publish_iteration(shoes.id, iteration.id, "classifyModel", acct["resourceId"])
    trainer.quick_test_image(shoes.id, fashion("t10k", 7, 1)[0], iteration_id=iteration.id)
    image_id = trainer.get_tagged_images(shoes.id, take=1)[0].id

    boxes = trainer.create_project("Forks", domain_id="da2e3a8a-40a5-4171-82f4-58522f70fbc1")
    fork = trainer.create_tag(boxes.id, "fork")
    with open(os.path.join(COMPOSITES, "manifest.json")) as f:
        first = json.load(f)[0]
    from azure.cognitiveservices.vision.customvision.training.models import Region
    with open(os.path.join(COMPOSITES, first["file"]), "rb") as f:
        data = f.read()
    made = trainer.create_images_from_files(boxes.id, ImageFileCreateBatch(images=[ImageFileCreateEntry(
        name="c.jpg", contents=data, regions=[Region(tag_id=fork.id, left=x[0], top=x[1], width=x[2], height=x[3]) for x in first["boxes"]])]))
    assert made.is_batch_successful
    box_image = made.images[0].image.id

    b = browser
    base = f"{server.url}/accounts/{acct['id']}/projects/{shoes.id}"
    od = f"{server.url}/accounts/{acct['id']}/projects/{boxes.id}"
    pages = [("signin", server.url + "/signin"), ("signup", server.url + "/signup")]
    signed_in = [
        ("projects", server.url + "/projects"),
        ("accounts", server.url + "/accounts"),
        ("account", f"{server.url}/accounts/{acct['id']}"),
        ("training-images", base),
        ("training-images-untagged", base + "?tag=untagged"),
        ("image-viewer", f"{base}/images/{image_id}"),
        ("performance", base + "/performance"),
        ("predictions", base + "/predictions"),
        ("settings", base + "/settings"),
        ("detection-images", od),
        ("detection-viewer", f"{od}/images/{box_image}"),
        ("import", server.url + "/import"),
        ("not-found", base + "/no-such-page"),
    ]
    admin = [
        ("admin-tiers", server.url + "/admin"),
        ("admin-accounts", server.url + "/admin/accounts"),
        ("admin-account", f"{server.url}/admin/accounts/{acct['id']}"),
        ("admin-users", server.url + "/admin/users"),
        ("admin-audit", server.url + "/admin/audit"),
    ]
    audit = PageAudit(b, server.url)

    def dialog(opener, inside):
        def open_it(d):
            d.find_element(By.ID, opener).click()
            opened = d.find_element(By.ID, inside).find_element(By.XPATH, "ancestor::dialog")
            assert opened.get_property("open"), f"{opener}: the dialog did not open"
        return open_it

    def quick_test(d):
        d.find_element(By.ID, "quick-test").click()
        d.find_element(By.ID, "quicktest-file").send_keys(test_image)
        d.find_element(By.ID, "quicktest-button").click()
        WebDriverWait(d, 90).until(lambda x: x.find_elements(By.CSS_SELECTOR, "#quicktest-results .prediction"))

    test_image = os.path.join(audit.html_dir, "quick.png")
    with open(test_image, "wb") as f:
        f.write(fashion("t10k", 1, 1)[0])

    for name, url in pages:
        audit.check(name, url)
    # A form refused in place: a wrong password, the email kept.
    b.get(server.url + "/signin")
    fill(b, "email", "pages@example.com")
    fill(b, "password", "not-the-password")
    b.find_element(By.ID, "submit").click()
    WebDriverWait(b, 30).until(lambda d: d.find_elements(By.ID, "error"))
    assert b.find_element(By.NAME, "email").get_attribute("value") == "pages@example.com"
    audit.keep_dom("signin-error")
    audit.look("signin-error")

    b.get(server.url + "/signin")
    submit_credentials(b, "pages@example.com", "password-123")
    b.get(base + "/predictions")
    signed_in.append(("prediction-viewer", b.find_element(By.CSS_SELECTOR, ".stored-prediction a").get_attribute("href")))
    for name, url in signed_in:
        audit.check(name, url)
    # An address nothing answers still shows who is signed in.
    b.get(base + "/no-such-page")
    assert b.find_element(By.ID, "who").text == "pages@example.com"
    assert "not found" in b.find_element(By.ID, "error").text.lower()
    audit.check("new-project-dialog", server.url + "/projects", prepare=dialog("new-project", "create-project"), served=False)
    audit.check("train-dialog", base, prepare=dialog("train", "train-form"), served=False)
    audit.check("quicktest-dialog", base, prepare=dialog("quick-test", "quicktest-form"), served=False)
    audit.check("quicktest-results", base, prepare=quick_test, served=False)
    audit.check("prediction-url-dialog", base + "/performance", prepare=dialog("prediction-url", "prediction-curl"), served=False)
    # A form refused in place on a signed-in page: a tag that exists already, the name kept.
    b.get(base)
    fill(b, "name", "sneaker", form="add-tag")
    b.find_element(By.ID, "add-tag-button").click()
    WebDriverWait(b, 30).until(lambda d: d.find_elements(By.ID, "error"))
    assert b.find_element(By.ID, "tag-name").get_attribute("value") == "sneaker"
    assert b.find_element(By.ID, "who").text == "pages@example.com"
    audit.keep_dom("tag-error")
    audit.look("tag-error")
    # A new resource account: its keys, shown this once.
    b.get(server.url + "/accounts")
    fill(b, "name", "second", form="create-account")
    b.find_element(By.ID, "create").click()
    WebDriverWait(b, 30).until(lambda d: d.find_elements(By.ID, "new-keys"))
    audit.keep_dom("new-keys")
    audit.look("new-keys")

    # Someone with nothing yet: the empty projects page.
    make_account(server, token, "empty@example.com", name="empty")
    b.delete_all_cookies()
    b.get(server.url + "/signin")
    submit_credentials(b, "empty@example.com", "password-123")
    audit.check("projects-empty", server.url + "/projects")

    b.delete_all_cookies()
    b.get(server.url + "/signin")
    submit_credentials(b, "ops@example.com", "interop-admin-password")
    for name, url in admin:
        audit.check(name, url)

    # A multilabel prediction goes back to the training set with every tag ticked.
    b.delete_all_cookies()
    b.get(server.url + "/signin")
    submit_credentials(b, "pages@example.com", "password-123")
    b.get(signed_in[-1][1])
    for box in b.find_elements(By.CSS_SELECTOR, "input.correct-tag"):
        assert box.get_attribute("type") == "checkbox"
        if not box.is_selected():
            box.click()
    before = {i.id for i in trainer.get_tagged_images(shoes.id, take=100)}
    b.find_element(By.ID, "add-prediction").click()
    assert "Added to the training set." in b.find_element(By.ID, "flash").text
    added = [i for i in trainer.get_tagged_images(shoes.id, take=100) if i.id not in before]
    assert len(added) == 1 and {t.tag_id for t in added[0].tags} == {sneaker.id, trouser.id}, added

    problems = audit.finish()
    assert not problems, "\n".join(problems)
