"""Reading the HTML pages the twin writes (replay.html, report.html) in tests: their images, links, tags and
the text a reader sees."""

from __future__ import annotations

from html.parser import HTMLParser

__all__ = ["PNG_SIGNATURE", "Page"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.imgs: list[dict[str, str | None]] = []
        self.text: list[str] = []
        self.refs: list[str] = []
        self.tags: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._in_style = tag == "style"
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a)
        for k in ("src", "href"):
            if a.get(k):
                self.refs.append(str(a[k]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if not self._in_style:  # the page's CSS (.pass, .fail) is no text a reader sees
            self.text.append(data)
