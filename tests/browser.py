"""A real headless Chromium (Debian's ``chromium``) driven over the Chrome DevTools Protocol: open a page,
run a script in it, list the requests it made, and take a full-page screenshot. No browser framework.

With ``CI=true`` a missing or failing Chromium fails the test; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

from tests.helpers import service_unavailable

#: Flags that keep Chromium off this machine's closed network and quiet in a container, run as root.
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-debugging-port=0", "--window-size=1280,900",
)  # fmt: skip


def chromium_path() -> str:
    path = os.environ.get("IMGPIPE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("no chromium on PATH (scripts/test.sh installs Debian's chromium; or set IMGPIPE_CHROMIUM)")
    return path


def unavailable(reason: str) -> NoReturn:
    service_unavailable("Chromium", reason)


class Page:
    """One tab, spoken to over its DevTools websocket; events arriving between replies are kept."""

    def __init__(self, ws_url: str) -> None:
        import websocket  # the test extra websocket-client

        self._ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        call_id = next(self._ids)
        self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv())
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return dict(message.get("result", {}))
            self.events.append(message)

    def wait_for(self, event: str, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.events:
                if message.get("method") == event:
                    return message
            self.events.append(json.loads(self._ws.recv()))
        raise TimeoutError(f"no {event} within {timeout}s")

    def open(self, url: str) -> None:
        self.call("Page.enable")
        self.call("Network.enable")
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed in the page: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path) -> None:
        """The whole page, not only the window."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.call("Page.captureScreenshot", format="png", clip=clip, captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self._ws.close()


@contextmanager
def chromium(profile: Path) -> Iterator[Page]:
    """A fresh headless Chromium with an empty profile in ``profile``; stopped (by its pid) afterwards."""
    profile.mkdir(parents=True, exist_ok=True)
    log = open(profile.parent / "chromium.log", "wb")
    # Its own process group, so stopping it also stops the renderer and helper processes it started.
    proc = subprocess.Popen([chromium_path(), *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    page = None
    try:
        page = Page(_page_websocket(profile, proc))
        yield page
    finally:
        if page is not None:
            page.close()
        _stop(proc)
        log.close()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _page_websocket(profile: Path, proc: subprocess.Popen[bytes]) -> str:
    """Chromium writes its DevTools port to DevToolsActivePort; the first tab is the about:blank page."""
    import urllib.request

    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = (profile.parent / "chromium.log").read_text(errors="replace")[-2000:]
            unavailable(f"chromium exited with {proc.returncode}: {tail}")
        if port_file.exists() and port_file.read_text().strip():
            port = int(port_file.read_text().split()[0])
            direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy
            with direct.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
                pages = [t for t in json.load(reply) if t.get("type") == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
        time.sleep(0.2)
    unavailable("chromium did not open its DevTools port within 60 s")
