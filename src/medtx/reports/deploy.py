"""Card components for DeployFlow: which version and why, and what each stage did."""
from __future__ import annotations

from typing import Any

from medtx.reports.format import cards, number, table


def selection_card(selection: Any) -> list:
    """The chosen version (``medtx.stages.deploy.Selection``) and why it was chosen."""
    v = selection.version
    md = cards().Markdown
    out = [md(f"# Deploy {v.group} v{v.version} ({v.status})\n\nChosen because: "
              f"**{selection.chosen_because}**; trained by `{selection.train_run or 'unknown'}`"
              f"{' on the synthetic demo notes' if selection.is_demo else ''}.")]
    out.append(table([[k, number(val, 4)] for k, val in sorted(v.metrics.items())],
                     ["registered metric", "value"]))
    return out


def _deployment_row(label: str, d: Any) -> list:
    if d is None:
        return [label, "-", "-", "-", "-"]
    return [label, d.version, d.state, d.address, d.started_at]


def deploy_card(selection: Any, outcomes: Any) -> list:
    """Per stage: versions before and after, the smoke checks and their latencies."""
    md = cards().Markdown
    out = [md(f"# Deploy of v{selection.version.version}")]
    for o in outcomes:
        out.append(md(f"## {o.stage}: {o.state}" + (f"\n\n{o.reason}" if o.reason else "")))
        if o.result is None:
            continue
        out.append(table([_deployment_row("before", o.result.before),
                          _deployment_row("after", o.result.after)],
                         ["", "version", "state", "address", "since"]))
        smoke = o.result.smoke
        if smoke is not None:
            out.append(table([[c.name, "PASS" if c.passed else "FAIL", c.observed, c.required]
                              for c in smoke.checks],
                             ["smoke check", "result", "observed", "required"]))
            lat = sorted(smoke.latencies_ms)
            if lat:
                pct = {p: lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
                       for p in (50, 95, 99)}
                out.append(md("Latency of single-note requests: " + ", ".join(
                    f"p{p} {number(ms, 1)} ms" for p, ms in pct.items()) + f" ({len(lat)} requests)"))
    return out


def outcome_line(outcome: Any) -> str:
    """One line per stage for the end of a DeployFlow run."""
    if outcome.result is None:
        return f"{outcome.stage}: {outcome.state} ({outcome.reason})"
    after = outcome.result.after
    return f"{outcome.stage}: {outcome.state}: v{after.version} {after.state} at {after.address}" \
        + (f" ({outcome.reason})" if outcome.reason else "")
