"""The web console in a real browser: Debian's headless chromium driven through chromedriver
(installed by scripts/setup-browser) against the real server binary of this session.

What a person does in the console, end to end: a failed and a good login; an admin adds a rep, a
manager and teams, writes a territory rule while the live preview changes (and warns about a rule
that matches nothing), and reads the audit log; the new rep downloads the Apple profile (parsed as a
property list with both accounts), uses its token, revokes it and sees the device refused (401),
shows the DAVx5 QR code and their figures; the manager opens the dashboard whose charts render.
Refusals: a form without the session's CSRF token, a rep opening admin pages, a manager opening
another team. Every page visited is saved as a PNG under target/screenshots/ for review.

The rules and accounts made here concern new reps only, so the other interop tests sharing the
server see the demo CRM unchanged.
"""

from __future__ import annotations

import base64
import os
import plistlib
import shutil
import time
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")) / "screenshots"
CHROMEDRIVER = "/usr/bin/chromedriver"
PASSWORD = "console-pass-1"


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not Path(CHROMEDRIVER).exists():
        pytest.fail("chromedriver is missing: run scripts/setup-browser (scripts/test does)")
    downloads = tmp_path_factory.mktemp("downloads")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1000", "--lang=en-US"):
        options.add_argument(arg)
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
        "safebrowsing.enabled": False,
    })
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.downloads = downloads
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name: str, width: int = 1280) -> None:
    """A screenshot of the whole page at this window width (Chrome's own full-page capture)."""
    driver.set_window_size(width, 1000)
    size = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    clip = {"x": 0, "y": 0, "width": size["width"], "height": min(size["height"], 5000), "scale": 1}
    png = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
    (SHOTS / f"{name}.png").write_bytes(base64.b64decode(png["data"]))
    driver.set_window_size(1280, 1000)


def wait(driver, condition, timeout: float = 10):
    return WebDriverWait(driver, timeout).until(condition)


def text(driver) -> str:
    return driver.find_element(By.TAG_NAME, "body").text


def log_in(driver, base: str, login: str, password: str) -> None:
    driver.get(base + "/ui/login")
    driver.find_element(By.NAME, "login").send_keys(login)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()


def log_out(driver) -> None:
    driver.find_element(By.CSS_SELECTOR, "form.logout button").click()
    wait(driver, EC.url_contains("/ui/login"))


def submit_in(driver, form_selector: str, fields: dict[str, str], button: str = "button[type=submit]") -> None:
    form = driver.find_element(By.CSS_SELECTOR, form_selector)
    for name, value in fields.items():
        element = form.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_value(value)
        else:
            element.clear()
            element.send_keys(value)
    form.find_element(By.CSS_SELECTOR, button).click()


def row(driver, table_id: str, login: str):
    return driver.find_element(By.CSS_SELECTOR, f"#{table_id} tr[data-login='{login}']")


def test_console(browser, root_url, db):
    base = root_url.rstrip("/")
    d = browser

    # A browser opening the server lands on the console's login page.
    d.get(base + "/")
    wait(d, EC.url_contains("/ui/login"))

    # -- a failed login, then the admin's
    log_in(d, base, "admin", "not-the-password")
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, ".notice.refused")))
    assert "wrong login or password" in text(d)
    shot(d, "login-failed")
    log_in(d, base, "admin", "demo")
    wait(d, EC.url_to_be(base + "/ui/"))
    assert "Set up my devices" in text(d)

    # -- reps and teams
    d.get(base + "/ui/admin/reps")
    submit_in(d, "#new-rep", {"login": "dana", "display_name": "Dana Field", "password": PASSWORD})
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "Rep dana created"))
    submit_in(d, "#new-rep", {"login": "max", "display_name": "Max Lead", "role": "manager", "password": PASSWORD})
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "Rep max created"))
    submit_in(d, "#new-team", {"name": "North team", "manager": "max"})
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "Team North team created"))
    submit_in(d, "#new-team", {"name": "South team"})
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "Team South team created"))
    team_form = row(d, "reps", "dana").find_element(By.CSS_SELECTOR, "form[action$='/team']")
    Select(team_form.find_element(By.NAME, "team")).select_by_value("North team")
    team_form.find_element(By.TAG_NAME, "button").click()
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "team of dana"))
    assert db.scalar("SELECT t.name FROM reps r JOIN teams t ON t.id = r.team_id WHERE r.login = 'dana'") == "North team"
    # carol (a demo rep with activities) joins too: max's dashboard covers his team's reps only.
    team_form = row(d, "reps", "carol").find_element(By.CSS_SELECTOR, "form[action$='/team']")
    Select(team_form.find_element(By.NAME, "team")).select_by_value("North team")
    team_form.find_element(By.TAG_NAME, "button").click()
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "team of carol"))
    shot(d, "admin-reps")

    # -- a territory rule for dana, with the live preview
    territory = db.scalar("SELECT territory FROM clients WHERE territory <> '' GROUP BY territory ORDER BY COUNT(*) DESC LIMIT 1")
    in_territory = int(db.scalar("SELECT COUNT(*) FROM clients WHERE territory = ?", (territory,)))
    assert in_territory > 0
    d.get(base + "/ui/admin/rules")
    form = d.find_element(By.ID, "rule-form")
    Select(form.find_element(By.NAME, "rep")).select_by_value("dana")
    form.find_element(By.NAME, "territory").send_keys("Nowhereland")
    # The preview follows the form as it is typed: a rule that matches nothing is flagged.
    wait(d, EC.text_to_be_present_in_element((By.ID, "preview"), "matches no client"))
    assert d.find_element(By.ID, "matched").text == "0"
    field = form.find_element(By.NAME, "territory")
    field.clear()
    field.send_keys(territory)
    wait(d, EC.text_to_be_present_in_element((By.ID, "matched"), str(in_territory)))
    dana_after = d.find_element(By.CSS_SELECTOR, "#preview tr[data-login='dana'] td.after").text
    assert int(dana_after) == in_territory, "dana would see every client of the territory"
    assert "matches no client" not in d.find_element(By.ID, "preview").text
    alice_added = d.find_element(By.CSS_SELECTOR, "#preview tr[data-login='alice'] td.added").text
    assert alice_added == "", "a rule for dana adds nothing to alice's view"
    shot(d, "admin-rules-preview")
    form.find_element(By.CSS_SELECTOR, "button[value=create]").click()
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "created"))
    assert f"territory {territory}" in d.find_element(By.ID, "rules").text

    # -- the admin hands dana a QR code for her phone
    d.get(base + "/ui/admin/reps")
    row(d, "reps", "dana").find_element(By.CSS_SELECTOR, "form[action$='/qr'] button").click()
    wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "#fresh .qr svg")))
    assert "davx5://dana:crmdav" in d.find_element(By.ID, "fresh").text
    shot(d, "admin-hand-over-qr")

    # -- the audit log, filtered
    d.get(base + "/ui/admin/audit?rep=admin&outcome=ok")
    audit = d.find_element(By.ID, "audit").text
    assert "rule.create" in audit and "rep.create" in audit and "team.create" in audit
    # A team change is shown old -> new.
    assert 'rep.team' in audit and '{"team":null} → {"team":"North team"}' in audit
    shot(d, "admin-audit")
    log_out(d)

    # -- dana sets up an iPhone with the profile
    log_in(d, base, "dana", PASSWORD)
    wait(d, EC.url_to_be(base + "/ui/"))
    shot(d, "rep-devices")
    profile_form = d.find_element(By.CSS_SELECTOR, "form[action='/ui/devices/profile']")
    name = profile_form.find_element(By.NAME, "device")
    name.clear()
    name.send_keys("Dana's iPhone")
    profile_form.find_element(By.TAG_NAME, "button").click()
    deadline = time.time() + 15
    files = []
    while time.time() < deadline:
        files = [f for f in Path(d.downloads).glob("*.mobileconfig")]
        if files:
            break
        time.sleep(0.2)
    assert files, "the profile was downloaded"
    profile = plistlib.loads(files[0].read_bytes())
    kinds = [p["PayloadType"] for p in profile["PayloadContent"]]
    assert kinds == ["com.apple.caldav.account", "com.apple.carddav.account"]
    caldav, carddav = profile["PayloadContent"]
    token = caldav["CalDAVPassword"]
    assert token.startswith("crmdav_") and carddav["CardDAVPassword"] == token
    assert caldav["CalDAVUsername"] == "dana" and caldav["CalDAVPrincipalURL"].endswith("/dav/principals/dana/")
    home = f"{base}/dav/principals/dana/"
    device = requests.request("PROPFIND", home, auth=("dana", token), headers={"Depth": "0"}, timeout=10)
    assert device.status_code == 207, device.text

    # The token is listed with the device's name; revoking it cuts the device off.
    d.get(base + "/ui/devices")
    token_row = [r for r in d.find_elements(By.CSS_SELECTOR, "#tokens tbody tr") if "Dana's iPhone" in r.text]
    assert len(token_row) == 1
    token_row[0].find_element(By.CSS_SELECTOR, "button.danger").click()
    wait(d, EC.text_to_be_present_in_element((By.CSS_SELECTOR, ".notice"), "revoked"))
    device = requests.request("PROPFIND", home, auth=("dana", token), headers={"Depth": "0"}, timeout=10)
    assert device.status_code == 401

    # DAVx5: a QR code of the server, the login and a token.
    submit_in(d, "form[action='/ui/devices/davx5']", {"device": "Dana's Pixel"})
    qr = wait(d, EC.presence_of_element_located((By.CSS_SELECTOR, "#fresh .qr svg")))
    assert qr.size["width"] > 100
    assert "davx5://dana:crmdav" in d.find_element(By.ID, "fresh").text
    shot(d, "rep-davx5-qr")
    shot(d, "rep-devices-phone", width=390)

    d.get(base + "/ui/figures")
    for figure in ("seen-this-month", "without-report", "untouched"):
        assert d.find_element(By.ID, figure).text.isdigit()
    shot(d, "rep-figures")

    # A rep opening admin or manager pages is refused.
    d.get(base + "/ui/admin/rules")
    assert "needs an admin account" in text(d)
    assert d.find_elements(By.ID, "rule-form") == []
    d.get(base + "/ui/dashboard")
    assert "needs a manager or admin account" in text(d)

    # A form whose CSRF token is not the session's is refused, and changes nothing.
    d.get(base + "/ui/devices")
    before = int(db.scalar("SELECT COUNT(*) FROM credentials c JOIN reps r ON r.id = c.rep_id WHERE r.login = 'dana'"))
    d.execute_script("document.querySelector(\"form[action='/ui/devices/token'] input[name=csrf]\").value = 'forged';")
    d.find_element(By.CSS_SELECTOR, "form[action='/ui/devices/token'] button").click()
    wait(d, EC.text_to_be_present_in_element((By.TAG_NAME, "body"), "CSRF check failed"))
    after = int(db.scalar("SELECT COUNT(*) FROM credentials c JOIN reps r ON r.id = c.rep_id WHERE r.login = 'dana'"))
    assert after == before
    shot(d, "csrf-refused")
    d.get(base + "/ui/devices")
    log_out(d)

    # -- the manager: dashboard charts, own team, not another team
    log_in(d, base, "max", PASSWORD)
    wait(d, EC.url_to_be(base + "/ui/"))
    d.get(base + "/ui/dashboard")
    reports = d.find_elements(By.CSS_SELECTOR, "section.report")
    assert len(reports) >= 5, "every report kind has its section"
    for section in reports:
        svg = section.find_element(By.CSS_SELECTOR, ".chart svg")
        assert svg.size["width"] > 200 and svg.size["height"] > 100
        drawn = section.find_elements(By.CSS_SELECTOR, ".chart svg rect, .chart svg path, .chart svg polyline, .chart svg line")
        assert len(drawn) > 3, f"{section.get_attribute('data-report')} draws something"
    # Only the team's reps: carol and dana, not alice or bob.
    reps = [o.get_attribute("value") for o in d.find_elements(By.CSS_SELECTOR, "select[name=rep] option")]
    assert reps == ["", "carol", "dana"], reps
    assert "alice" not in text(d) and "bob" not in text(d)
    shot(d, "manager-dashboard")
    csv_link = reports[0].find_element(By.LINK_TEXT, "Download CSV").get_attribute("href")
    cookies = {c["name"]: c["value"] for c in d.get_cookies()}
    csv = requests.get(csv_link, cookies=cookies, timeout=10)
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0].startswith("rep,")
    d.get(base + "/ui/team")
    assert "North team" in text(d) and "dana" in text(d)
    shot(d, "manager-team")
    d.get(base + "/ui/team?team=South+team")
    assert "do not manage a team" in text(d)
    d.get(base + "/ui/dashboard?rep=alice")
    assert "not in a team you manage" in text(d)
    d.get(base + "/ui/admin/reps")
    assert "needs an admin account" in text(d)
    d.get(base + "/ui/devices")
    log_out(d)

    # A disabled rep's session ends at once.
    log_in(d, base, "dana", PASSWORD)
    wait(d, EC.url_to_be(base + "/ui/"))
    db.execute("UPDATE reps SET active = FALSE WHERE login = 'dana'")
    d.get(base + "/ui/devices")
    wait(d, EC.url_contains("/ui/login"))
