"""The RMSE-against-seconds plots of scale.py and peers.py: their axes, and labels beside the
points that do not overlap each other.

matplotlib is imported by the callers, lazily; this module only uses the axes it is given.
"""

from __future__ import annotations

# Offsets (points) and alignments tried for each label, in order of preference.
_PLACES = [
    ((7, 3), "left", "bottom"),
    ((7, -3), "left", "top"),
    ((-7, 3), "right", "bottom"),
    ((-7, -3), "right", "top"),
    ((0, 9), "center", "bottom"),
    ((0, -9), "center", "top"),
    ((7, 12), "left", "bottom"),
    ((7, -12), "left", "top"),
    ((-7, 12), "right", "bottom"),
    ((-7, -12), "right", "top"),
]


def style_rmse_seconds(ax, title: str, seconds, label_room: float) -> None:
    """The axes of an RMSE against fit + predict seconds plot: log-scaled seconds, grid,
    title, and ``label_room`` times the largest time of room right of the points for their
    labels; then the figure's tight layout."""
    ax.set_xscale("log")
    ax.set_xlabel("fit + predict seconds (log scale)")
    ax.set_ylabel("test RMSE (lower is better)")
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="both", alpha=0.3)
    ax.set_xlim(min(seconds) / 2, max(seconds) * label_room)
    ax.margins(y=0.1)
    ax.figure.tight_layout()


def place_labels(ax, xs, ys, texts, colors=None, fontsize=9, marker_px=9) -> None:
    """Annotate point ``i`` at (``xs[i]``, ``ys[i]``) with ``texts[i]``, choosing for each
    label the first of a few places around its point that overlaps no label placed before,
    no point and nothing outside the axes (else the place that overlaps least)."""
    fig = ax.figure
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    to_px = ax.transData.transform
    points = [to_px((x, y)) for x, y in zip(xs, ys, strict=True)]
    half = marker_px / 2
    marks = [(px - half, py - half, px + half, py + half) for px, py in points]
    frame = ax.get_window_extent(renderer)
    placed: list[tuple[float, float, float, float]] = []
    order = sorted(range(len(texts)), key=lambda i: (points[i][0], points[i][1]))
    for i in order:
        best = None
        for offset, ha, va in _PLACES:
            label = ax.annotate(
                texts[i], (xs[i], ys[i]), xytext=offset, textcoords="offset points",
                ha=ha, va=va, fontsize=fontsize, color=None if colors is None else colors[i],
            )  # fmt: skip
            box = label.get_window_extent(renderer)
            box = (box.x0, box.y0, box.x1, box.y1)
            cost = sum(_overlap(box, other) for other in placed)
            cost += sum(_overlap(box, m) for j, m in enumerate(marks) if j != i)
            inside = (frame.x0, frame.y0, frame.x1, frame.y1)
            cost += _area(box) - _overlap(box, inside)  # the part outside the axes
            if best is None or cost < best[0]:
                if best is not None:
                    best[1].remove()
                best = (cost, label, box)
            else:
                label.remove()
            if cost == 0:
                break
        placed.append(best[2])


def _area(box) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0
