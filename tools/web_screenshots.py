"""The screenshots of docs/web.md, and the page's speed as the browser measures it.

    python3 tools/web_screenshots.py      (needs the [web] extra, Playwright and Debian's chromium)

Serves the shipped model, plays a 640×480 clip of a real face (scikit-image's astronaut) as Chromium's fake
webcam, lets the live view run for 20 seconds, then freezes, opens the network view and one pixel's arithmetic.
Writes docs/images/web_live.png and docs/images/web_network.png and prints the updates per second and the
network view's time.
"""
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import uvicorn
from playwright.sync_api import sync_playwright
from skimage import data

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fer_app.recognizer import EmotionRecognizer  # noqa: E402
from fer_app.web import Explainer, create_app  # noqa: E402
from tests.test_web import CHROMIUM, free_port, write_y4m  # noqa: E402


def main():
    photo = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    head = photo[0:280, 80:360]
    frames = []
    for t in range(60):
        frame = np.full((480, 640, 3), 70, np.uint8)
        frame[100 + t // 2:380 + t // 2, 180 + t:460 + t] = head
        frames.append(frame)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(Explainer(EmotionRecognizer())), port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        camera = write_y4m(Path(tmp) / "camera.y4m", frames, fps=30)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        page.goto(f"http://127.0.0.1:{port}")
        page.click("#webcam")
        page.wait_for_selector('#view[data-faces="1"]', timeout=60000)
        page.wait_for_timeout(20000)
        fps = float(page.get_attribute("#fps", "data-fps"))
        page.screenshot(path=str(ROOT / "docs/images/web_live.png"))
        page.click("#freeze")
        x, y, w, h = json.loads(page.get_attribute("#view", "data-boxes"))[0]
        times = []
        for _ in range(5):
            page.click("#view", position={"x": x + w / 2, "y": y + h / 2})
            page.wait_for_selector('.layer[data-count="32"] img')
            page.wait_for_timeout(300)
            times.append(int(page.get_attribute("#network", "data-ms")))
        page.locator('.layer[data-index="4"] img').click(position={"x": 60, "y": 25})
        page.wait_for_selector("#sum")
        page.locator("#network").scroll_into_view_if_needed()
        page.screenshot(path=str(ROOT / "docs/images/web_network.png"), full_page=True)
        browser.close()
    print(f"live view: {fps:.1f} updates per second (one face, 640x480); network view: {sorted(times)} ms")
    server.should_exit = True


if __name__ == "__main__":
    main()
