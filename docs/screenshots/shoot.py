"""Screenshots of every page for the README, at 1280 px and 390 px.

Seeds a fresh bundled server through the API (an invited, an active, a disabled and a
never-invited client) and drives headless Chromium through chromedriver (WebDriver over plain
HTTP, standard library only). Needs Debian's `chromium` and `chromium-driver`.

    cargo build -p portal-server
    mkdir /tmp/demo && cd /tmp/demo
    .../target/debug/portal-server --bind 127.0.0.1:18090 --public-url http://127.0.0.1:18090 > server.out &
    python3 .../docs/screenshots/shoot.py "$(grep -o 'pst_[A-Za-z0-9_-]*' server.out | head -1)" .../docs/screenshots

Run it from the server's working directory: it reads the links from `portal-data/mail/*.eml`.
"""
import base64, glob, json, re, subprocess, sys, time, urllib.request

BASE = "http://127.0.0.1:18090"
KEY = sys.argv[1]
OUT = sys.argv[2]

def call(method, url, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req) as r:
            text = r.read().decode()
            return json.loads(text) if text else None
    except urllib.error.HTTPError as e:
        raise SystemExit(f"{method} {url}: {e.code} {e.read().decode()}")

staff = {"authorization": f"Bearer {KEY}"}
def client(name, email):
    return call("POST", f"{BASE}/api/v1/clients", {"name": name, "email": email}, staff)["id"]

def latest_token(kind):
    time.sleep(1.5)
    files = sorted(glob.glob("portal-data/mail/*.eml"), key=lambda p: __import__("os").path.getmtime(p))
    for path in reversed(files):
        m = re.search(rf"/portal/{kind}\?token=([A-Za-z0-9_-]+)", open(path).read())
        if m:
            return m.group(1)

PW = "violet kettles hum at dawn"
invited = client("Ada Lovelace", "ada@example.org")
call("POST", f"{BASE}/api/v1/clients/{invited}/portal/invitation", None, staff)
active = client("Grace Hopper", "grace@example.org")
call("POST", f"{BASE}/api/v1/clients/{active}/portal/invitation", None, staff)
call("POST", f"{BASE}/api/v1/portal/registrations", {"token": latest_token("invitation"), "username": "grace", "password": PW})
disabled = client("Alan Turing", "alan@example.org")
call("POST", f"{BASE}/api/v1/clients/{disabled}/portal/invitation", None, staff)
call("POST", f"{BASE}/api/v1/portal/registrations", {"token": latest_token("invitation"), "username": "alan", "password": PW})
call("PUT", f"{BASE}/api/v1/clients/{disabled}/portal/enabled", {"enabled": False}, staff)
client("Edsger Dijkstra", "edsger@example.org")
call("POST", f"{BASE}/api/v1/clients/{invited}/portal/invitation", None, staff)
invite_token = latest_token("invitation")

driver = subprocess.Popen(["chromedriver", "--port=9515"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(1)
WD = "http://127.0.0.1:9515"
try:
    caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]}}}}
    sid = call("POST", f"{WD}/session", caps)["value"]["sessionId"]
    S = f"{WD}/session/{sid}"
    def go(path): call("POST", f"{S}/url", {"url": BASE + path})
    def el(css): return list(call("POST", f"{S}/element", {"using": "css selector", "value": css})["value"].values())[0]
    def type_(css, text): call("POST", f"{S}/element/{el(css)}/value", {"text": text})
    def click(css): call("POST", f"{S}/element/{el(css)}/click", {})
    def size(w, h): call("POST", f"{S}/window/rect", {"width": w, "height": h})
    def shot(name):
        for w, label in ((1280, "desktop"), (390, "phone")):
            size(w, 900)
            call("POST", f"{S}/refresh", {})
            h = call("POST", f"{S}/execute/sync", {"script": "return document.documentElement.scrollHeight", "args": []})["value"]
            size(w, max(int(h) + 140, 400))
            png = base64.b64decode(call("GET", f"{S}/screenshot")["value"])
            open(f"{OUT}/{name}-{label}.png", "wb").write(png)
    go("/staff/sign-in"); shot("staff-sign-in")
    type_("#key", KEY); click("button[type=submit]")
    go("/staff/clients"); shot("staff-clients")
    go(f"/staff/clients/{invited}"); shot("staff-panel-no-account")
    go(f"/staff/clients/{active}"); shot("staff-panel-active")
    go(f"/staff/clients/{disabled}"); shot("staff-panel-disabled")
    go(f"/portal/invitation?token={invite_token}"); shot("client-invitation")
    go("/portal/my-practice/sign-in"); shot("client-sign-in")
    type_("#username", "grace"); type_("#password", PW); click("button[type=submit]")
    go("/portal/home"); shot("client-home")
    go("/portal/invitation?token=" + "A" * 64); shot("client-link-invalid")
    call("POST", f"{BASE}/api/v1/clients/{active}/portal/password-reset", None, staff)
    go(f"/portal/password-reset?token={latest_token('password-reset')}"); shot("client-password-reset")
    call("DELETE", S)
finally:
    driver.terminate()
