"""Paired comparison of runs on the same clips (same fingerprint and horizon).

Per clip and metric, the difference of clip scores; then win rate, Wilcoxon signed-rank and sign
test p-values, Holm-corrected across every comparison in the table.
"""

from __future__ import annotations

from typing import Any

from pwbench import protocol
from pwbench.errors import RunMismatch
from pwbench.results.run_dir import RunDir
from pwbench.results.summary import view_sets
from pwbench.stats import clip_scores, holm, paired_test, window

COMPARED_KEYS = ("psnr_full", "ssim_full", "lpips_full", "psnr_masked", "ssim_masked", "lpips_masked")


def compare(a: RunDir, b: RunDir, kind: str = "up_to") -> dict[str, Any]:
    """Paired differences a - b. Two runs of one model with true (a) and shuffled (b) actions
    make this the model's *action sensitivity*: the score it owes to following its actions."""
    run_a, run_b = a.read_manifest(), b.read_manifest()
    for key in ("fingerprint", "horizon"):
        if getattr(run_a, key) != getattr(run_b, key):
            raise RunMismatch(f"cannot pair {a.path} and {b.path}: {key} differs")
    clip_ids = run_a.clip_ids
    records_a, records_b = a.records(clip_ids), b.records(clip_ids)  # read once, not once per table row
    views = tuple(run_a.views)
    rows = []
    for name, h in protocol.grid_upto(run_a.horizon).items():
        for group, members in view_sets(views).items():
            if group not in protocol.GROUPS:
                continue
            for key in COMPARED_KEYS:
                metric = key.split("_")[0]
                sa = clip_scores(records_a, clip_ids, key, members, window(kind, h))
                sb = clip_scores(records_b, clip_ids, key, members, window(kind, h))
                result = paired_test(sa, sb, protocol.HIGHER_IS_BETTER[metric])
                rows.append({"horizon": name, "group": group, "key": key, **result.as_dict()})
    for row, adjusted in zip(rows, holm([r["wilcoxon_p"] for r in rows]), strict=True):
        row["wilcoxon_p_holm"] = adjusted
    actions = (run_a.actions, run_b.actions)
    sensitivity = run_a.model == run_b.model and actions == ("true", "shuffled")
    return {"a": run_a.model, "b": run_b.model, "actions": list(actions), "action_sensitivity": sensitivity,
            "kind": kind, "fingerprint": run_a.fingerprint, "rows": rows}


def _label(result: dict[str, Any], side: str) -> str:
    regime = result.get("actions", ["true", "true"])[0 if side == "a" else 1]
    return result[side] if regime == "true" else f"{result[side]} ({regime} actions)"


def format_comparison(result: dict[str, Any]) -> str:
    a, b = _label(result, "a"), _label(result, "b")
    title = f"action sensitivity of {result['a']}: true - shuffled actions" if result.get("action_sensitivity") \
        else f"{a} vs {b}"
    lines = [f"{title} ({result['kind'].replace('_', '-')}-h; win = {a} better; p: Wilcoxon, Holm-corrected)", ""]
    header = f"{'horizon':<8}{'group':<10}{'metric':<14}{'n':>4}{'mean diff':>12}{'win rate':>10}{'p (Holm)':>11}"
    lines += [header, "-" * len(header)]
    for r in result["rows"]:
        lines.append(f"{r['horizon']:<8}{r['group']:<10}{r['key']:<14}{r['n']:>4}{r['mean_difference']:>12.4f}"
                     f"{r['win_rate']:>10.2f}{r['wilcoxon_p_holm']:>11.2g}")
    return "\n".join(lines)
