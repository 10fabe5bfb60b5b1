"""Reading an imgpipe HTML report the way the tests check it: its images, counts, section ids and text."""

from __future__ import annotations

import base64
from html.parser import HTMLParser

import cv2
import numpy as np


class Page(HTMLParser):
    """What a reader sees that the tests check: images, counts, section ids, figure captions."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.counts: dict[str, str] = {}
        self.ids: set[str] = set()
        self.keys: list[str] = []
        self.text = ""
        self._count: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "img":
            self.images.append(a)
        if "id" in a:
            self.ids.add(a["id"])
        if "data-key" in a:
            self.keys.append(a["data-key"])
        self._count = a.get("data-count")

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._count:
            self.counts[self._count] = self.counts.get(self._count, "") + data.strip()


def decoded(uri: str) -> np.ndarray:
    assert uri.startswith("data:image/jpeg;base64,"), uri[:40]
    img = cv2.imdecode(np.frombuffer(base64.b64decode(uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.size > 0
    return img
