"""Quality gates: the thresholds a CI build job sets in evaluate.gates, applied to the exported
files, their parity and the NPU pre-flight, each with a result row for the reports.

Gates are strict: a NaN or infinite measured value fails its gate (a comparison with NaN is
False, so NaN would otherwise pass every threshold), and a build with no gate configured says so
("no gates configured", status "none") instead of claiming it passed."""

from __future__ import annotations

import math

from stylectl.pipelines.config import GatesConfig

NO_GATES = "no gates configured"

GATE_CHECKS = (("min_psnr_vs_teacher", "psnr_vs_teacher", min, "dB"), ("min_ssim_vs_teacher", "ssim_vs_teacher", min, ""),
               ("max_latency_ms", "latency_ms", max, "ms"), ("max_size_mb", "size_mb", max, "MB"),
               ("max_parity_error", "parity_max_abs", max, ""))


def check_gates(gates: GatesConfig, rows: list[dict], export: dict) -> dict:
    """Apply each configured threshold to each exported student file, to each file's parity,
    and to the NPU pre-flight.

    Each gate gets a result row (threshold, worst measured value and its file, status). A gate
    that no file could measure (a latency gate when only Core ML files were exported, off
    macOS) fails as "not measured" unless `gates.optional` names it: a CI gate that checks
    nothing must not pass.
    """
    parity = {row["file"]: row.get("parity_max_abs") for row in export["rows"]}
    failures, results = [], []
    for gate, column, kind, unit in GATE_CHECKS:
        limit = getattr(gates, gate)
        if limit is None:
            continue
        if column == "parity_max_abs":
            measured = [(name, value) for name, value in parity.items() if value is not None]
        else:
            measured = [(row["artifact"], row[column]) for row in rows if row.get(column) is not None]
        violations = [(name, value) for name, value in measured if _violates(value, limit, kind)]
        failures += [f"{name}: {column} {value:.3g}{f' {unit}' if unit else ''} violates {gate}={limit}"
                     + ("" if math.isfinite(value) else " (not a finite number)") for name, value in violations]
        worst = _worst(measured, kind)
        if not measured:
            status = "not measured (optional)" if gate in gates.optional else "not measured"
            if gate not in gates.optional:
                failures.append(f"{gate}={limit}: not measured (no exported file here has {column}); "
                                "mark it optional in evaluate.gates.optional to allow that")
        else:
            status = "failed" if violations else "passed"
        results.append({"gate": gate, "threshold": limit, "unit": unit, "status": status,
                        "worst": worst[1] if worst else None, "worst_artifact": worst[0] if worst else None,
                        "measured": len(measured)})
    if gates.preflight_clean:
        findings = export["preflight"]["findings"]
        vendor = export["preflight"].get("vendor_failures", [])
        failures += [f"NPU pre-flight ({finding['target']}): {finding['rule']} at {finding['where']}"
                     for finding in findings] + [f"NPU compile check: {failure}" for failure in vendor]
        results.append({"gate": "preflight_clean", "threshold": 0, "unit": "findings",
                        "status": "failed" if findings or vendor else "passed", "worst": len(findings) + len(vendor),
                        "worst_artifact": None, "measured": 1})
    status = "none" if not results else "failed" if failures else "passed"
    return {"checked": [result["gate"] for result in results], "status": status, "passed": not failures,
            "failures": failures, "results": results}


def _violates(value: float, limit: float, kind) -> bool:
    """Whether a measured value breaks its threshold; NaN and infinities always do."""
    if not math.isfinite(value):
        return True
    return value < limit if kind is min else value > limit


def _worst(measured: list[tuple[str, float]], kind) -> tuple[str, float] | None:
    """The measured value furthest on the wrong side: a non-finite one first, else the min (max) of a min (max) gate."""
    if not measured:
        return None
    broken = [item for item in measured if not math.isfinite(item[1])]
    if broken:
        return broken[0]
    return (min if kind is min else max)(measured, key=lambda item: item[1])


def verdict(gates: dict) -> str:
    """The gates' one-word outcome for reports: "passed", "FAILED" or "no gates configured" (reports
    written before the "status" key existed have none: they had gates if they have results)."""
    status = gates.get("status") or ("failed" if not gates["passed"] else "passed" if gates.get("results") else "none")
    return {"none": NO_GATES, "failed": "FAILED", "passed": "passed"}[status]
