"""Quality gates: the thresholds a CI build job sets in evaluate.gates, applied to the exported
files, their parity and the NPU pre-flight, each with a result row for the reports."""

from __future__ import annotations

from stylectl.pipelines.config import GatesConfig

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
        violations = [(name, value) for name, value in measured
                      if (kind is min and value < limit) or (kind is max and value > limit)]
        failures += [f"{name}: {column} {value:.3g}{f' {unit}' if unit else ''} violates {gate}={limit}"
                     for name, value in violations]
        worst = (min if kind is min else max)(measured, key=lambda item: item[1]) if measured else None
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
    return {"checked": [result["gate"] for result in results], "passed": not failures, "failures": failures,
            "results": results}
