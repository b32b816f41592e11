"""Where a benchmark ran (CPU model and cores, Python and package versions) and where its results go."""
from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path


def machine() -> dict[str, object]:
    """CPU model (from /proc/cpuinfo where there is one), core count, Python version."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version()}


def versions(*packages: str) -> dict[str, str]:
    """Installed version of each package, or "missing"."""
    found = {}
    for name in packages:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def save(path: str | None, results: dict) -> None:
    """Write ``results`` as indented JSON to ``path`` (folders made as needed); None writes nothing."""
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(results, indent=1) + "\n")
