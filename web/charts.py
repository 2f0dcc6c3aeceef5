"""Small charts drawn on the server as inline SVG: no script, no library, no CDN.

Values are shares (0..1, or None for "no data"). Colours are SVG attributes, not inline
styles, so the page's Content-Security-Policy (style-src 'self') allows them.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

# About the width of a phone in CSS pixels, so the text keeps its size there.
WIDTH = 360
HEIGHT = 170
LEFT = 38  # room for the percentage axis
BOTTOM = 24  # room for the date labels
TOP = 10
INK = "#5f5b57"
GRID = "#dedad5"


def _frame(label: str, body: list[str]) -> Markup:
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(label)}</title>",
    ]
    plot_h = HEIGHT - TOP - BOTTOM
    for share in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - share)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{y + 5:.1f}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{share * 100:.0f}%</text>'
        )
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))


def _x_labels(labels: Sequence[str], step: float) -> list[str]:
    every = max(1, -(-len(labels) // 6))  # at most six labels fit a phone
    out = []
    for i, text in enumerate(labels):
        if i % every == 0 or (i == len(labels) - 1 and len(labels) < 8):
            x = LEFT + step * (i + 0.5)
            out.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="middle" font-size="12" '
                f'fill="{INK}">{escape(text)}</text>'
            )
    return out


def bar_chart(
    points: Sequence[tuple[str, float | None]], label: str, colour: str = "#1e7b34"
) -> Markup:
    """One bar per point; a point without data shows as a thin grey tick."""
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT) / max(len(points), 1)
    body = []
    for i, (text, share) in enumerate(points):
        x = LEFT + step * i + step * 0.15
        w = step * 0.7
        if share is None:
            body.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - 2:.1f}" width="{w:.1f}" height="2" '
                f'fill="{GRID}"><title>{escape(text)}：无数据</title></rect>'
            )
            continue
        h = max(plot_h * min(max(share, 0.0), 1.0), 1.0)
        body.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{escape(text)}：{share * 100:.0f}%</title></rect>'
        )
    return _frame(label, body + _x_labels([t for t, _ in points], step))


def line_chart(
    points: Sequence[tuple[str, float | None]], label: str, colour: str = "#0b5cad"
) -> Markup:
    """A line through the points with data; gaps where there is none."""
    plot_h = HEIGHT - TOP - BOTTOM
    step = (WIDTH - LEFT) / max(len(points), 1)
    body = []
    run: list[str] = []
    for i, (text, share) in enumerate(points):
        if share is None:
            if len(run) > 1:
                body.append(_polyline(run, colour))
            run = []
            continue
        x = LEFT + step * (i + 0.5)
        y = TOP + plot_h * (1 - min(max(share, 0.0), 1.0))
        run.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
            f"<title>{escape(text)}：{share * 100:.0f}%</title></circle>"
        )
    if len(run) > 1:
        body.insert(0, _polyline(run, colour))
    return _frame(label, body + _x_labels([t for t, _ in points], step))


def _polyline(points: list[str], colour: str) -> str:
    return (
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{colour}" '
        f'stroke-width="3" stroke-linejoin="round"/>'
    )
