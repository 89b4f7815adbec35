"""Segment profile report: sizes and feature means per segment, a 2-D map and a profile chart.

Input is segments.json only (centroids and sizes: what the owner released); no record is
needed or shown. Written files:

* `profile.csv`: one row per segment: size, share, and every feature's mean in original units;
* `report.md`: the same table plus how the segments differ most from the overall mean;
* `projection.png`: the centroids on their first two principal components (scaled units),
  bubble area proportional to segment size;
* `profile.png`: per segment and feature, the centroid relative to the size-weighted mean of
  all segments, in units of the feature's declared range (a heat map).
"""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from hedge.files import write_atomic
from hedge.segmentation.segments import Segments

__all__ = ["write_segment_report"]


def _profile(segments: Segments) -> pd.DataFrame:
    total = segments.sizes.sum()
    table = pd.DataFrame(segments.centroids, columns=segments.features)
    table.insert(0, "share", segments.sizes / total if total else 0.0)
    table.insert(0, "size", segments.sizes.astype(int))
    table.index = pd.Index([f"segment {j}" for j in range(segments.k)], name="segment")
    return table


def _relative(segments: Segments) -> np.ndarray:
    """Centroids minus the size-weighted overall mean, in scaled units / 2 (share of range)."""
    weights = segments.sizes / max(segments.sizes.sum(), 1.0)
    overall = weights @ segments.scaled
    return np.asarray((segments.scaled - overall) / 2.0)


def _projection(segments: Segments, path: Path) -> None:
    centred = segments.scaled - segments.scaled.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2] if len(vt) >= 2 else np.vstack([vt, np.zeros_like(vt)])
    xy = centred @ axes.T
    fig, ax = plt.subplots(figsize=(6, 5))
    area = 3000.0 * segments.sizes / max(segments.sizes.max(), 1.0)
    ax.scatter(xy[:, 0], xy[:, 1], s=area, alpha=0.5, c=np.arange(segments.k), cmap="tab10")
    for j, (px, py) in enumerate(xy):
        ax.annotate(f"{j} (n={int(segments.sizes[j])})", (px, py), ha="center", va="center")
    ax.set(xlabel="first principal component", ylabel="second principal component",
           title="Segments: centroids projected (bubble area = size)")
    ax.margins(0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _heatmap(segments: Segments, path: Path) -> None:
    relative = _relative(segments)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * len(segments.features), 1.5 + 0.5 * segments.k))
    limit = max(float(np.abs(relative).max()), 1e-9)
    image = ax.imshow(relative, cmap="RdBu_r", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(segments.features)), segments.features, rotation=60, ha="right")
    ax.set_yticks(range(segments.k),
                  [f"{j} (n={int(s)})" for j, s in enumerate(segments.sizes)])
    ax.set_title("Segment profiles: centroid minus overall mean (share of the feature's range)")
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _markdown(segments: Segments, table: pd.DataFrame) -> str:
    relative = _relative(segments)
    lines = [f"# Segment report ({segments.k} segments, {int(segments.sizes.sum())} records)",
             "", f"Inertia (scaled units): {segments.inertia:.1f}; rounds: {segments.rounds}; "
             f"converged: {segments.converged}.", "", "| segment | size | share | "
             + " | ".join(segments.features) + " |",
             "|---|--:|--:|" + "--:|" * len(segments.features)]
    for j, row in enumerate(table.itertuples(index=False)):
        values = " | ".join(f"{v:.4g}" for v in row[2:])
        lines.append(f"| {j} | {row[0]} | {row[1]:.1%} | {values} |")
    lines += ["", "Most distinctive features per segment (centroid against the overall mean):", ""]
    for j in range(segments.k):
        top = np.argsort(-np.abs(relative[j]))[:3]
        parts = [f"{segments.features[i]} {'higher' if relative[j, i] > 0 else 'lower'}"
                 for i in top]
        lines.append(f"- segment {j}: " + ", ".join(parts))
    return "\n".join(lines) + "\n"


def write_segment_report(segments: Segments, out: str | os.PathLike[str]) -> list[Path]:
    """Write the report files into the folder `out` (created); returns their paths."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    table = _profile(segments)
    paths = [folder / "profile.csv", folder / "report.md", folder / "projection.png",
             folder / "profile.png"]
    write_atomic(paths[0], table.to_csv().encode())
    write_atomic(paths[1], _markdown(segments, table).encode())
    _projection(segments, paths[2])
    _heatmap(segments, paths[3])
    return paths
