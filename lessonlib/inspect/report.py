"""The report: sections of one finding each, written as a markdown page and an offline HTML page.

Both pages sit in the report folder and point at the figures beside them (``figures/``), so
the HTML works from a ``file://`` URL and the markdown renders as a docs page; nothing is
loaded from another host.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Figure:
    """A figure file of the report (relative to its folder), with a caption and an alt text."""

    path: str
    caption: str
    alt: str


@dataclass
class Section:
    """One view of the model: what it found in one sentence, details, figures.

    ``status`` is "ok", "flag" (the view found a problem) or "skipped" (it cannot apply;
    ``finding`` then says why).
    """

    key: str
    title: str
    finding: str = ""
    status: str = "ok"
    body: str = ""  # markdown
    figures: list[Figure] = field(default_factory=list)
    seconds: float = 0.0


def _markdown(title: str, intro: str, sections: list[Section]) -> str:
    lines = [f"# {title}", "", intro, ""]
    lines += ["| view | finding |", "|---|---|"]
    for s in sections:
        mark = {"flag": "⚠ ", "skipped": "— "}.get(s.status, "")
        lines.append(f"| [{s.title}](#{s.key}) | {mark}{s.finding.replace('|', chr(92) + '|')} |")
    lines.append("")
    for s in sections:
        lines += [f'<a id="{s.key}"></a>', "", f"## {s.title}", "", f"**{s.finding}**", ""]
        if s.body:
            lines += [s.body.rstrip(), ""]
        for fig in s.figures:
            lines += [f"![{fig.alt}]({fig.path})", "", f"*{fig.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.92em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
pre{background:#f6f8fa;padding:.8em;overflow-x:auto;font-size:.8em;line-height:1.25}
code{background:#f6f8fa;padding:0 .2em}
img{max-width:100%;border:1px solid #eee}
figure{margin:1em 0}figcaption{font-style:italic;color:#555;font-size:.9em}
.flag{color:#b00020}.skipped{color:#777}
"""


def _md(text: str) -> str:
    import markdown

    return markdown.markdown(text, extensions=["tables", "fenced_code"])


def _html(title: str, intro: str, sections: list[Section]) -> str:
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        _md(intro),
        sections_html(sections),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def sections_html(sections: list[Section], inline_from: Path | None = None) -> str:
    """The findings table and the sections as HTML; figures read from ``inline_from`` and
    embedded as data URIs when it is given (for a page that lives elsewhere)."""
    md = _md

    def src(fig: Figure) -> str:
        if inline_from is None:
            return fig.path
        import base64

        kind = "image/svg+xml" if fig.path.endswith(".svg") else "image/png"
        data = base64.b64encode((Path(inline_from) / fig.path).read_bytes()).decode("ascii")
        return f"data:{kind};base64,{data}"

    rows = "\n".join(
        f'<tr><td><a href="#{s.key}">{html.escape(s.title)}</a></td>'
        f'<td class="{s.status}">{html.escape(s.finding)}</td></tr>'
        for s in sections
    )
    parts = [f"<table><tr><th>view</th><th>finding</th></tr>{rows}</table>"]
    for s in sections:
        parts.append(f'<section id="{s.key}"><h2>{html.escape(s.title)}</h2>')
        parts.append(f'<p class="{s.status}"><strong>{html.escape(s.finding)}</strong></p>')
        if s.body:
            parts.append(md(s.body))
        for fig in s.figures:
            parts.append(
                f'<figure><img src="{html.escape(src(fig))}" alt="{html.escape(fig.alt)}">'
                f"<figcaption>{html.escape(fig.caption)}</figcaption></figure>"
            )
        parts.append("</section>")
    return "\n".join(parts)


def write_report(out: Path, title: str, intro: str, sections: list[Section]) -> tuple[Path, Path]:
    """Write ``out/report.md`` and ``out/report.html``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    md_path, html_path = out / "report.md", out / "report.html"
    md_path.write_text(_markdown(title, intro, sections), encoding="utf-8")
    html_path.write_text(_html(title, intro, sections), encoding="utf-8")
    return md_path, html_path


def one_sentence(text: str, limit: int = 320) -> str:
    """``text`` squeezed to one line, cut at ``limit`` characters, ending in a full stop."""
    line = re.sub(r"\s+", " ", str(text)).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return line if line.endswith((".", "…", "!", "?")) else line + "."
