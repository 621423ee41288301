"""python -m fer_app.web: the API with Starlette's test client, and the page in a real browser (headless Chromium
driven by Playwright, a video file as its webcam)."""
import json
import socket
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("starlette", reason="Starlette not installed (optional: pip install -e \".[web]\")")
testclient = pytest.importorskip("starlette.testclient", reason="Starlette's test client needs httpx")

from fer_app.recognizer import EmotionRecognizer  # noqa: E402
from fer_app.web import Explainer, create_app  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def photo():
    skimage_data = pytest.importorskip("skimage.data", reason="scikit-image not installed (optional: real photos)")
    return cv2.cvtColor(skimage_data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="module")
def app():
    return create_app(Explainer(EmotionRecognizer()))


def jpeg(image):
    return cv2.imencode(".jpg", image)[1].tobytes()


def test_the_api_finds_the_face_and_its_arithmetic_is_minicnns(app, photo):
    client = testclient.TestClient(app)
    frame = client.post("/api/frame", content=jpeg(photo)).json()
    assert len(frame["faces"]) == 1 and frame["faces"][0]["label"] in frame["classes"]
    x, y, w, h = frame["faces"][0]["box"]
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 180            # the astronaut's face
    network = client.get(f"/api/network?frame={frame['frame']}&face=0").json()
    convs = [layer for layer in network["layers"] if layer["kind"] == "Conv2D"]
    assert [layer["count"] for layer in convs] == [32, 64, 128, 128, 256, 256]
    assert abs(sum(network["probabilities"]) - 1) < 1e-3
    for layer, (m, y, x) in zip(convs[:3], [(0, 0, 0), (5, 11, 3), (17, 2, 9)]):   # corner (padding) and inside
        a = client.get(f"/api/arithmetic?frame={frame['frame']}&face=0&layer={layer['index']}&map={m}&y={y}&x={x}")
        a = a.json()
        products = np.array(a["inputs"]) * np.array(a["weights"])            # the page's numbers add up
        assert abs(products.sum() + a["bias"] - a["sum"]) < 1e-2 * max(1, abs(a["sum"]))
        assert abs(a["sum"] - a["activation"]) < 1e-4 * max(1, abs(a["sum"]))


def test_bad_requests_get_a_message_and_the_server_goes_on(app, photo):
    client = testclient.TestClient(app)
    for body, says in ((b"not a picture", "not a picture the server can read"), (b"", "no picture was sent"),
                       (jpeg(np.zeros((10, 5000, 3), np.uint8)), "at most 4096 pixels a side")):
        answer = client.post("/api/frame", content=body)
        assert answer.status_code == 400 and says in answer.json()["error"]
    assert "no longer kept" in client.get("/api/network?frame=12345&face=0").json()["error"]
    assert "is not a convolution" in client.get("/api/filters?layer=1&map=0").json()["error"]
    assert "bad request" in client.get("/api/network?frame=x&face=0").json()["error"]
    assert len(client.post("/api/frame", content=jpeg(photo)).json()["faces"]) == 1      # still serving


def write_y4m(path, frames, fps=15):
    """A YUV4MPEG2 file, what Chromium's fake webcam plays."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(app):
    uvicorn = pytest.importorskip("uvicorn", reason="uvicorn not installed (optional: pip install -e \".[web]\")")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory, photo):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright not installed (pip install playwright)")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian: apt-get install chromium)")
    head = photo[30:230, 120:330]
    frames = []
    for t in range(30):
        frame = np.full((480, 640, 3), 90, np.uint8)
        frame[120 + t:320 + t, 200:410] = head
        frames.append(frame)
    camera = write_y4m(tmp_path_factory.mktemp("camera") / "camera.y4m", frames)
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


def test_the_page_in_a_browser(browser, served, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(served)
    page.click("#webcam")
    page.wait_for_selector('#view[data-faces="1"]', timeout=30000)
    labels = page.get_attribute("#view", "data-labels")
    assert labels in ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    page.wait_for_timeout(3000)
    assert float(page.get_attribute("#fps", "data-fps")) > 1
    page.click("#freeze")
    x, y, w, h = json.loads(page.get_attribute("#view", "data-boxes"))[0]
    page.click("#view", position={"x": x + w / 2, "y": y + h / 2})
    page.wait_for_selector('.layer[data-count="32"] img', timeout=30000)
    assert page.locator(".layer").count() == 29                # every layer of the shipped net
    conv = page.locator('.layer[data-index="4"] img')            # 32 → 64: a pixel of its map 0
    conv.click(position={"x": 20, "y": 20})
    page.wait_for_selector("#sum", timeout=30000)
    total, activation = (float(page.get_attribute("#sum", k)) for k in ("data-sum", "data-activation"))
    assert abs(total - activation) < 1e-4 * max(1, abs(total))
    page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
    bad = tmp_path / "notes.txt"
    bad.write_text("not a picture")
    page.set_input_files("#file", str(bad))
    page.wait_for_function("document.getElementById('message').textContent.includes('not a photo or a video')")
    corrupt = tmp_path / "broken.png"
    corrupt.write_bytes(b"\x89PNG broken")
    page.set_input_files("#file", str(corrupt))
    page.wait_for_function("document.getElementById('message').textContent.includes('broken.png')")


def test_two_tabs_at_once_and_a_client_gone_mid_upload(browser, served, photo, tmp_path):
    """Two pages analysing at the same time both get their faces; a client that sends half a frame and hangs up
    leaves the server serving; a video the browser cannot play is a message."""
    host, port = served.rsplit(":", 1)
    with socket.create_connection((host.split("//")[1], int(port))) as s:      # promises 100 kB, sends 10, leaves
        s.sendall(b"POST /api/frame HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n0123456789")
    pages = [browser.new_page() for _ in range(2)]
    for page in pages:
        page.goto(served)
        page.click("#webcam")
    for page in pages:
        page.wait_for_selector('#view[data-faces="1"]', timeout=30000)
    page = pages[0]
    fake = tmp_path / "clip.mp4"
    fake.write_bytes(b"\x00\x00\x00\x18ftypmp42 but nothing playable follows")
    page.set_input_files("#file", str(fake))
    page.wait_for_function("document.getElementById('message').textContent.includes('cannot play this video')")
