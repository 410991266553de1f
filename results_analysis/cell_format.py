"""Cell formatting and table rendering (markdown, LaTeX/booktabs) for sweep leaderboards.

Numbers are shown the way papers report seed studies (e.g. Locatello et al. 2019, "Challenging common
assumptions ...", who report medians/means over seeds): the standard error is rounded to two
significant digits and the mean to the same decimal place, so a cell never shows more precision than
the seeds support. Pure string functions: no pandas here, so they are trivially testable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

MISSING = "—"  # a value that does not exist (unranked group, metric never reported)
_MAX_DECIMALS = 6  # beyond this a fixed-point cell is unreadable: fall back to %g


def _finite(x: Any) -> bool:
    try:
        return math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _nonfinite_text(x: Any) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return MISSING
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return MISSING


def format_number(x: Any, sig: int = 4) -> str:
    """A lone value (no spread known, e.g. n = 1): ``sig`` significant digits, fixed-point when readable."""
    if not _finite(x):
        return _nonfinite_text(x)
    v = float(x)
    if v == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(v)))
    decimals = sig - 1 - magnitude
    if decimals > _MAX_DECIMALS or magnitude >= 7:
        return f"{v:.{sig}g}"
    return f"{v:.{max(decimals, 0)}f}"


def format_mean_se(mean: Any, se: Any, se_sig: int = 2) -> str:
    """``"mean ± se"`` with the SE at ``se_sig`` significant digits and the mean at the same decimal place."""
    if not _finite(mean):
        return _nonfinite_text(mean)
    if not _finite(se):
        return format_number(mean)
    m, s = float(mean), float(se)
    if s == 0:  # every seed gave the same number: say so rather than hide the spread
        return f"{format_number(m)} ± 0"
    decimals = se_sig - 1 - math.floor(math.log10(s))
    if decimals > _MAX_DECIMALS:
        return f"{m:.3g} ± {s:.{se_sig}g}"
    decimals = max(decimals, 0)
    return f"{m:.{decimals}f} ± {s:.{decimals}f}"


def format_config_value(v: Any) -> str:
    """A hyperparameter value as a researcher would write it (``0.001``, ``1e-05``, ``True``, ``[64, 64]``)."""
    if v is None:
        return MISSING
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return MISSING if math.isnan(v) else f"{v:g}"
    if hasattr(v, "tolist"):  # numpy scalars and arrays (parquet gives lists back as arrays)
        return format_config_value(v.tolist())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_config_value(x) for x in v) + "]"
    return str(v)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]) -> str:
    """A GitHub-flavoured markdown table; ``align`` holds "l" or "r" per column. Cells are padded so the
    plain text (what a terminal shows) lines up as well."""

    def esc(cell: str) -> str:
        return cell.replace("|", "\\|")

    header = [esc(h) for h in header]
    rows = [[esc(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows] + [3]) for i, h in enumerate(header)]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if a == "r" else c.ljust(w) for c, w, a in zip(cells, widths, align)]
        return "| " + " | ".join(padded) + " |"

    rule = ["-" * (w - 1) + ":" if a == "r" else "-" * w for w, a in zip(widths, align)]
    return "\n".join([line(header), "| " + " | ".join(rule) + " |"] + [line(r) for r in rows]) + "\n"


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def latex_cell(text: str) -> str:
    """A formatted cell for LaTeX: ``±`` becomes math ``\\pm``, the rest is escaped."""
    if " ± " in text:
        parts = text.split(" ± ", 1)
        tail = ""
        if " (" in parts[1]:  # "0.5 ± 0.1 (n=2)": keep the count note outside math mode
            parts[1], tail = parts[1].split(" (", 1)
            tail = " (" + latex_escape(tail)
        return f"${parts[0]} \\pm {parts[1]}$" + tail
    if text == MISSING:
        return "--"
    return latex_escape(text)


def latex_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str]) -> str:
    """A booktabs tabular (needs ``\\usepackage{booktabs}``); header and cells are already formatted."""
    lines = [
        "\\begin{tabular}{" + "".join(align) + "}",
        "\\toprule",
        " & ".join(header) + " \\\\",
        "\\midrule",
    ]
    lines += [" & ".join(r) + " \\\\" for r in rows]
    lines += ["\\bottomrule", "\\end{tabular}"]
    return "\n".join(lines) + "\n"
