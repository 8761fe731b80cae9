"""The compose file is valid for Docker Compose (checked without a Docker engine)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

COMPOSE = Path(__file__).resolve().parents[2] / "compose" / "docker-compose.yml"


def compose_command() -> list[str]:
    """`docker compose` where the plugin exists, else the standalone `docker-compose`."""
    plugin = (
        subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if shutil.which("docker")
        else None
    )
    if plugin is not None and plugin.returncode == 0:
        return ["docker", "compose"]
    standalone = shutil.which("docker-compose")
    assert standalone, (
        "neither `docker compose` nor `docker-compose` is installed (scripts/tools.sh)"
    )
    return [standalone]


def test_compose_config_accepts_the_file() -> None:
    result = subprocess.run(
        [*compose_command(), "-f", str(COMPOSE), "config", "--services"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert {"rabbitmq", "postgres"} <= set(result.stdout.split())
