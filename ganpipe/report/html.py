"""The report as one self-contained HTML page: what the MLflow UI shows among a run's artifacts
(it renders markdown as plain text, HTML as a page)."""

from __future__ import annotations

from pathlib import Path


def html_page(markdown: str, folder: Path, title: str = "ganpipe report") -> str:
    """The report as one self-contained HTML page, its figures inlined as data URIs: what the
    MLflow UI renders among a run's artifacts (it shows markdown as plain text, HTML as a page)."""
    import base64
    import html
    import re

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)

    def inline(match: re.Match) -> str:
        path = folder / html.unescape(match.group(1))
        if not path.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    style = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}"
             "img{max-width:100%}code{background:#f4f4f4}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")
