"""The benchmark's record: the machine it ran on, the JSON file, and the tables printed to the terminal.

The JSON file holds (every speed a median over repeats, with the raw per-repeat timings beside it):
- `machine`: python, torch, lightning, platform, cpu, cpu_count, torch_threads, device, device_name;
- `settings`: every option of the command;
- `training`: `lightning_path` and `plain_path` (what each loop runs), `images_per_second` (its definition),
  `target_ratio` and `cases`: per dataset `backbone`, `steps` (timed per run), `below_target` (losses under the
  target) and `losses`: per loss `n_disc`, `plain` and `lightning` (`d_steps_per_second`, `images_per_second`,
  `runs`: one record per repeat), `ratio`: the median over repeats of lightning / plain D steps/s within each
  repeat, and `ratio_range`: their minimum and maximum;
- `evaluation`: per extractor `samples`, `weights_id`, `generation_images_per_second`,
  `extraction_images_per_second`, `scores_seconds` (FD + IS + KID), `scores_with_diagnostics_seconds`,
  `diagnostics_seconds`, `first_scores_with_diagnostics_seconds`, `raw_seconds`; or `skipped` with the reason;
- `sweeps`: `command` and `runs`: per worker count `workers`, `trials`, `seconds`, `trials_per_hour`, `speedup`;
- `packing`: `loss` and `cases`: per case (`mixtures`, `paper`) `dataset`, `backbone`, `paper_steps`, `target`
  (`rule`, `met`) and `sizes`: per pack size K `steps_per_second` (the pack's), `trials_per_hour`, `speedup` (over
  K = 1), `training_memory_bytes`, `parameter_bytes` and `runs` (one record per repeat).
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import lightning
import pandas as pd
import torch

from ..analysis.tables import markdown
from ..atomic import atomic_path


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_info(device: torch.device, threads: int) -> dict[str, Any]:
    """What a reader needs to compare two benchmark files: software versions, processor, device, threads."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "lightning": lightning.__version__,
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "torch_threads": threads,
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name(),
    }


def training_table(case: dict[str, Any]) -> str:
    rows = [
        {
            "loss": loss,
            "n_disc": result["n_disc"],
            "plain D steps/s": f"{result['plain']['d_steps_per_second']:.2f}",
            "lightning D steps/s": f"{result['lightning']['d_steps_per_second']:.2f}",
            "plain images/s": f"{result['plain']['images_per_second']:.0f}",
            "lightning images/s": f"{result['lightning']['images_per_second']:.0f}",
            "ratio": f"{result['ratio']:.3f}",
            "ratio range": "{:.3f}-{:.3f}".format(*result["ratio_range"]),
        }
        for loss, result in case["losses"].items()
    ]
    return markdown(pd.DataFrame(rows))


EVALUATION_COLUMNS = {
    "samples": ("samples", "{}"),
    "FD+IS+KID s": ("scores_seconds", "{:.2f}"),
    "with diagnostics s": ("scores_with_diagnostics_seconds", "{:.2f}"),
    "diagnostics s": ("diagnostics_seconds", "{:.2f}"),
    "first call s": ("first_scores_with_diagnostics_seconds", "{:.2f}"),
    "generation images/s": ("generation_images_per_second", "{:.0f}"),
    "extraction images/s": ("extraction_images_per_second", "{:.0f}"),
}


def evaluation_table(evaluation: dict[str, Any]) -> str:
    """One row per extractor; a skipped one keeps its row, with the first sentence of the reason as its note."""
    rows = []
    for extractor, result in evaluation.items():
        row = {"extractor": extractor}
        for column, (key, shown) in EVALUATION_COLUMNS.items():
            row[column] = shown.format(result[key]) if key in result else "-"
        row["note"] = f"skipped: {result['skipped'].split('. ')[0]}" if "skipped" in result else ""
        rows.append(row)
    return markdown(pd.DataFrame(rows))


def sweeps_table(sweeps: dict[str, Any]) -> str:
    rows = [
        {
            "workers": run["workers"],
            "trials": run["trials"],
            "seconds": f"{run['seconds']:.1f}",
            "trials/hour": f"{run['trials_per_hour']:.1f}",
            "speed-up": f"{run['speedup']:.2f}",
        }
        for run in sweeps["runs"]
    ]
    return markdown(pd.DataFrame(rows))


def packing_table(packing: dict[str, Any]) -> str:
    """One row per case and pack size; memory in MiB (what training added to the process's peak, and the weights)."""
    rows = [
        {
            "case": f"{case} ({result['backbone']})",
            "K": row["size"],
            "pack steps/s": f"{row['steps_per_second']:.2f}",
            "trials/hour": f"{row['trials_per_hour']:.2f}",
            "vs K=1": "-" if row["speedup"] is None else f"{row['speedup']:.2f}x",
            "training memory MiB": f"{row['training_memory_bytes'] / 2**20:.0f}",
            "weights MiB": f"{row['parameter_bytes'] / 2**20:.1f}",
        }
        for case, result in packing["cases"].items()
        for row in result["sizes"]
    ]
    return markdown(pd.DataFrame(rows))


def packing_verdicts(packing: dict[str, Any]) -> list[str]:
    verdicts = {True: "met", False: "NOT met", None: "not measured (K missing)"}
    return [
        f"{case}: {result['target']['rule']}: {verdicts[result['target']['met']]}"
        for case, result in packing["cases"].items()
    ]


def render(record: dict[str, Any]) -> str:
    """The tables of the parts that ran, each under a line saying what it measures."""
    machine = record["machine"]
    lines = [f"{machine['device_name']} ({machine['device']}), {machine['torch_threads']} torch threads"]
    if "training" in record:
        training = record["training"]
        lines.append(
            "\ntraining: median over repeats; ratio = median of each repeat's lightning / plain "
            f"(target >= {training['target_ratio']}); "
            f"images/s = {training['images_per_second']}"
        )
        for dataset, case in training["cases"].items():
            lines += [f"\n{dataset} on {case['backbone']}, {case['steps']} timed D steps per run", training_table(case)]
            if case["below_target"]:
                lines.append(f"below the target: {', '.join(case['below_target'])}")
    if "evaluation" in record:
        lines += [
            "\nevaluation: seconds per evaluation point (samples, features, scores), reference statistics cached; "
            "'first call' includes the diagnostics' one-time real-side radii",
            evaluation_table(record["evaluation"]),
        ]
    if "sweeps" in record:
        lines += [f"\nsweeps: {record['sweeps']['command']}", sweeps_table(record["sweeps"])]
    if "packing" in record:
        lines += [
            f"\npacking: {record['packing']['loss']}, K trials as one pack (K=1: the ordinary module); "
            "trials/hour of training, evaluations excluded; median over repeats",
            packing_table(record["packing"]),
            *packing_verdicts(record["packing"]),
        ]
    return "\n".join(lines)


def write_json(record: dict[str, Any], path: Path) -> Path:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(record, indent=2) + "\n")
    return path
