"""Per-trial artifacts: PCA of every latent subspace coloured by digit and by domain (the seed draws t-SNE;
PCA is deterministic and takes milliseconds), reconstructions and latent traversals (NVAE / DIVA)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from trainables.vae_plots import save_reconstructions, save_traversals  # noqa: E402


def pca_2d(z: torch.Tensor) -> torch.Tensor:
    z = z.double() - z.double().mean(0)
    if z.shape[1] == 1:
        return torch.cat([z, torch.zeros_like(z)], 1)
    _, _, v = torch.linalg.svd(z, full_matrices=False)
    return z @ v[:2].T


def save_latent_pca(latents: dict[str, torch.Tensor], y: torch.Tensor, d: torch.Tensor, path: Path) -> Path:
    names = list(latents)
    fig, axes = plt.subplots(2, len(names), figsize=(3.2 * len(names), 6.2), squeeze=False)
    for j, name in enumerate(names):
        p = pca_2d(latents[name]).numpy()
        for i, (labels, what, cmap) in enumerate(((y, "digit y", "tab10"), (d, "domain d", "tab10"))):
            ax = axes[i, j]
            sc = ax.scatter(p[:, 0], p[:, 1], c=labels.numpy(), cmap=cmap, s=3, vmin=0, vmax=9)
            ax.set_title(f"{name} by {what}", fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
        fig.colorbar(sc, ax=axes[:, j].tolist(), shrink=0.6)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


@torch.no_grad()
def write_all(family, out_dir: Path, n_points: int = 2000) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    model, val = family.model, family.data["val"]
    rows = family.eval_rows("val")
    rows = rows[:: max(1, len(rows) // n_points)][:n_points]  # evenly spaced: the rows are sorted by domain
    x = val.images(rows)
    latents = {k: v.float().cpu() for k, v in model.latents(x).items()}
    paths = [save_latent_pca(latents, val.y[rows].cpu(), val.d[rows].cpu(), out_dir / "latent_pca.png")]
    if hasattr(model, "reconstruct"):
        paths.append(save_reconstructions(x[:8].cpu(), model.reconstruct(x[:8]).cpu(), out_dir / "reconstructions.png"))
        parts = model.latents(x[:1])
        grid = []
        offsets = torch.linspace(-3, 3, 9)
        # one row per subspace in model.subspaces order (row "z0" = zy, then zx, zdy, zd): its most variable
        # dimension moved ±3 std around the first image's code
        for name in model.subspaces:
            std = latents[name].std(0)
            dim = int(std.argmax())
            row = []
            for o in offsets:
                moved = {k: v.clone() for k, v in parts.items()}
                moved[name][0, dim] += float(o * std[dim])
                row.append(model.decode_parts(moved)[0])
            grid.append(torch.stack(row))
        paths.append(save_traversals(torch.stack(grid).cpu(), out_dir / "latent_traversals.png"))
    return paths


def save_accuracy_by_model(trials, path: Path) -> Path:
    """Per model, the done seeds' acc_y_val and acc_y_ood as points over a bar of their mean."""
    done = trials[trials["status"].astype(str) == "done"]
    models = list(dict.fromkeys(done.get("config.model", [])))
    fig, ax = plt.subplots(figsize=(1.6 * max(len(models), 1) + 1.5, 3.5))
    for k, (metric, colour) in enumerate((("acc_y_val", "tab:blue"), ("acc_y_ood", "tab:orange"))):
        if f"metric.{metric}" not in done.columns:
            continue
        for i, m in enumerate(models):
            v = done.loc[done["config.model"] == m, f"metric.{metric}"].dropna().to_numpy(float)
            x = i + (k - 0.5) * 0.35
            ax.bar(x, v.mean() if len(v) else 0, 0.33, color=colour, alpha=0.5, label=metric if i == 0 else None)
            ax.scatter([x] * len(v), v, color=colour, s=10)
    ax.set_xticks(range(len(models)), models)
    ax.set_ylabel("label accuracy")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
