"""Artifacts of gce trials (matplotlib, Agg): latent-sweep grids per class and the information-flow bars.

A latent sweep is the seeds' explanation figure (FACT ``Generic_model.sample``, original ``GCE.explain``):
encode one image, move one latent coordinate over a range while the others stay, decode, and show what
the classifier decides on each decoded image. Differences: the seeds sweep the encoder's *sampled* code;
here the mean (the figure does not depend on a noise draw); FACT sweeps −3..3 in steps of 1 (used here),
the original −2..2 in 25 steps.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from trainables.vae_plots import show_image  # noqa: E402

SWEEP = tuple(float(v) for v in range(-3, 4))
MAX_ROWS = 16  # for wide codes (CIFAR's K + L = 64) only the first 16 coordinates are drawn


def latent_label(d: int, n_alpha: int) -> str:
    return f"α{d + 1}" if d < n_alpha else f"β{d - n_alpha + 1}"


@torch.no_grad()
def sweep_grid(encoder, decoder, classifier, x: torch.Tensor, sweep=SWEEP) -> tuple[torch.Tensor, torch.Tensor]:
    """For one image x (1, C, H, W): images (D, S, C, H, W) and the classifier's probabilities (D, S, M)
    of the code with coordinate d moved by each sweep value."""
    mu, _ = encoder(x)
    dims, steps = mu.shape[1], len(sweep)
    codes = mu.repeat(dims * steps, 1).reshape(dims, steps, dims)
    offsets = torch.tensor(sweep, device=mu.device, dtype=mu.dtype)
    idx = torch.arange(dims, device=mu.device)
    codes[idx, :, idx] += offsets
    images = decoder(codes.reshape(-1, dims))
    probs = torch.softmax(classifier(images), dim=-1)
    return images.reshape(dims, steps, *images.shape[1:]), probs.reshape(dims, steps, -1)


def save_latent_sweeps(encoder, decoder, classifier, images: torch.Tensor, labels: torch.Tensor, num_classes: int,
                       n_alpha: int, out_dir: Path, sweep=SWEEP) -> list[Path]:
    """latent_sweep_class<m>.png for every class m present: the first test image of that class, swept.
    Each cell's title is the classifier's decision and its probability; causal rows are labelled α."""
    paths = []
    for m in range(num_classes):
        rows = (labels == m).nonzero()
        if len(rows) == 0:
            continue
        x = images[rows[0]].float().div(255.0)
        grid, probs = sweep_grid(encoder, decoder, classifier, x, sweep)
        grid, probs = grid[:MAX_ROWS], probs[:MAX_ROWS]
        n_rows, n_cols = grid.shape[:2]
        fig, axes = plt.subplots(n_rows, n_cols, figsize=(1.0 * n_cols, 1.15 * n_rows), squeeze=False)
        for r in range(n_rows):
            for c in range(n_cols):
                show_image(axes[r, c], grid[r, c])
                p, y = probs[r, c].max(-1)
                axes[r, c].set_title(f"{int(y)}: {float(p):.2f}", fontsize=7, pad=2)
            axes[r, 0].set_ylabel(latent_label(r, n_alpha), rotation=0, labelpad=14)
        for c, value in enumerate(sweep):
            axes[-1, c].set_xlabel(f"{value:+g}", fontsize=8)
        fig.suptitle(f"class {m}: each row moves one latent (title: classifier decision, probability)", fontsize=8)
        fig.tight_layout()
        path = Path(out_dir) / f"latent_sweep_class{m}.png"
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths


def save_flow_bars(metrics: dict[str, float], n_alpha: int, n_latents: int, path: Path) -> Path:
    """Two panels as the original's Fig. 5a/b: I(z_d; Ŷ) per latent, and the classifier's accuracy on the
    originals, the re-encoded images and with each latent removed (α red, β blue)."""
    dims = range(n_latents)
    names = [latent_label(d, n_alpha) for d in dims]
    colours = ["#d00000" if d < n_alpha else "#0c7bdc" for d in dims]
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(6.0, 0.5 * n_latents + 4), 3.2))
    left.bar(names, [metrics[f"info_flow_z{d}"] for d in dims], color=colours)
    left.set_ylabel("information flow to Ŷ (nats)")
    left.set_title(f"I(α; Ŷ) = {metrics['info_flow']:.3f}", fontsize=9)
    acc = metrics["acc_original"]
    bars = [acc, metrics["acc_reencoded"], *(acc - metrics[f"acc_drop_z{d}"] for d in dims)]
    right.bar(["orig", "reenc", *names], bars, color=["black", "black", *colours])
    right.set_ylim(0, 1)
    right.set_ylabel("classifier accuracy")
    right.set_title("accuracy with one latent removed", fontsize=9)
    for ax in (left, right):
        ax.yaxis.grid(linewidth=0.3)
        ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def save_sweep_flows(trials, out_dir: Path) -> list[Path]:
    """Sweep report: per config group, I(z_d; Ŷ) and the accuracy drop of every latent as mean ± standard
    error over the group's finished seeds. Writes gce_latents.csv (one row per group and latent) and
    gce_latents.png (one row of two panels per group, at most 8 groups)."""
    import numpy as np
    import pandas as pd

    done = trials[trials["status"] == "done"] if "status" in trials else trials
    rows = []
    for group_id, group in done.groupby("group_id", sort=False):
        n_alpha = int(group["config.n_alpha"].iloc[0]) if "config.n_alpha" in group else 0
        d = 0
        while f"metric.info_flow_z{d}" in group and group[f"metric.info_flow_z{d}"].notna().any():
            for kind in ("info_flow", "acc_drop"):
                values = group[f"metric.{kind}_z{d}"].dropna().to_numpy(dtype=float)
                se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
                rows.append({"group_id": group_id, "latent": latent_label(d, n_alpha), "kind": kind,
                             "mean": values.mean(), "se": se, "n": len(values)})
            d += 1
    if not rows:
        return []
    table = pd.DataFrame(rows)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv = out_dir / "gce_latents.csv"
    table.to_csv(csv, index=False)
    groups = list(dict.fromkeys(table["group_id"]))[:8]
    fig, axes = plt.subplots(len(groups), 2, figsize=(9, 2.8 * len(groups)), squeeze=False)
    for r, group_id in enumerate(groups):
        for c, (kind, label) in enumerate((("info_flow", "I(z_d; Ŷ) (nats)"), ("acc_drop", "accuracy drop"))):
            part = table[(table["group_id"] == group_id) & (table["kind"] == kind)]
            colours = ["#d00000" if name.startswith("α") else "#0c7bdc" for name in part["latent"]]
            axes[r, c].bar(part["latent"], part["mean"], yerr=part["se"].fillna(0), color=colours, capsize=3)
            axes[r, c].set_ylabel(label)
            axes[r, c].set_title(f"group {group_id} (n={int(part['n'].max())})", fontsize=8)
            axes[r, c].yaxis.grid(linewidth=0.3)
    fig.tight_layout()
    png = out_dir / "gce_latents.png"
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return [csv, png]
