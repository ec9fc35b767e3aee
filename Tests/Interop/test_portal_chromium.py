"""A real Chromium (Debian's chromium + chromium-driver, via Selenium) drives the portal.
It can reach nothing but the server under test on 127.0.0.1. Here: sign up, a resource
account whose keys are shown once and copied to the clipboard, sign out, and sign back in
to the page asked for. (Pages that need no JavaScript, the admin area's among them, are
checked without a browser in AppTests.PortalPageTests and PortalAccountTests.)"""
import re

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait


@pytest.fixture
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for arg in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--disable-background-networking", "--disable-extensions", "--no-first-run",
                '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1']:
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    driver.set_window_size(1280, 1024)  # the workspace header and image viewer fit above the fold
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def wait_url(driver, fragment):
    """Clicks return before navigation finishes; wait for the new page."""
    WebDriverWait(driver, 30).until(EC.url_contains(fragment))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def wait_saved(driver, boxes=None):
    """The box editor answered every save it scheduled; the last left `boxes` boxes
    (any number when None)."""
    def settled(d):
        pending, saved = d.execute_script(
            "var e = document.getElementById('box-editor');"
            "return [e.getAttribute('data-pending'), e.getAttribute('data-saved')];")
        return pending == "0" and saved is not None and (boxes is None or saved == str(boxes))
    WebDriverWait(driver, 30).until(settled)


def fill(driver, name, value, form=None):
    scope = driver.find_element(By.ID, form) if form else driver
    el = scope.find_element(By.NAME, name)
    el.clear()
    el.send_keys(value)


def submit_credentials(b, email, password, then=None):
    """Fills the sign-in or sign-up form on the current page and submits it. Sign-up
    lands on the resource accounts, sign-in on the projects (or the page asked for)."""
    signing_up = "/signup" in b.current_url
    fill(b, "email", email)
    fill(b, "password", password)
    b.find_element(By.ID, "submit").click()
    wait_url(b, then or ("/accounts" if signing_up else "/projects"))


def create_account(b, name, tier="S0"):
    """Creates a resource account from the accounts page; its page shows the new keys."""
    if not b.current_url.rstrip("/").endswith("/accounts"):
        b.find_element(By.ID, "nav-accounts").click()
        wait_url(b, "/accounts")
    fill(b, "name", name, form="create-account")
    Select(b.find_element(By.ID, "tier")).select_by_value(tier)
    b.find_element(By.ID, "create").click()
    b.find_element(By.ID, "new-keys")


def new_keys(b):
    """The keys the account page shows once, by label."""
    return {el.get_attribute("data-label"): el.get_attribute("data-value") for el in b.find_elements(By.CSS_SELECTOR, "code.new-key")}


def test_sign_up_account_keys_sign_out_and_in(server, browser):
    b = browser
    b.get(server.url + "/")
    assert "Sign in" in b.title
    b.find_element(By.ID, "to-signup").click()
    wait_url(b, "/signup")
    submit_credentials(b, "person@example.com", "browser-password")
    create_account(b, "my-vision")
    keys = new_keys(b)
    assert set(keys) == {"Training key 1", "Training key 2", "Prediction key 1", "Prediction key 2"}
    assert all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys.values())
    # Shown once, with a copy button that puts the key on the clipboard.
    b.execute_cdp_cmd("Browser.grantPermissions", {"origin": server.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    copy = b.find_element(By.CSS_SELECTOR, '#new-keys [data-copy="new-key-0"]')
    copy.click()
    WebDriverWait(b, 30).until(lambda d: copy.get_attribute("data-copied") == "true")
    pasted = b.execute_async_script("var done = arguments[0]; navigator.clipboard.readText().then(done, function (e) { done('error: ' + e); });")
    assert pasted == keys["Training key 1"]
    assert b.find_element(By.ID, "endpoint-value").text == server.url + "/"
    assert "/providers/Microsoft.CognitiveServices/accounts/my-vision-" in b.find_element(By.ID, "resource-id").text
    # The key the page showed works against the API.
    r = requests.get(server.url + "/customvision/v3.4-preview/training/projects",
                     headers={"Training-Key": keys["Training key 1"]}, timeout=10)
    assert r.status_code == 200 and r.json() == []
    b.find_element(By.ID, "nav-accounts").click()
    wait_url(b, "/accounts")
    account_url = b.find_element(By.LINK_TEXT, "my-vision").get_attribute("href")
    assert "/accounts/" in account_url
    b.get(account_url)
    assert keys["Training key 1"] not in b.page_source, "keys are shown in full only once"
    b.find_element(By.ID, "signout").click()
    wait_url(b, "/signin")
    b.get(account_url)
    wait_url(b, "/signin?next=")  # signed-out users are sent to sign in, then back
    assert b.find_element(By.ID, "signin-needed")
    submit_credentials(b, "person@example.com", "browser-password", then=account_url)
    assert b.find_element(By.ID, "who").text == "person@example.com"
    assert keys["Training key 1"] not in b.page_source, "keys are shown in full only once"
    b.find_element(By.ID, "signout").click()
    wait_url(b, "/signin")
