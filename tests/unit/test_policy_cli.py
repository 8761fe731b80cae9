"""`sesshu policy check` and `sesshu policy diff`."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from hub.cli import app
from hub.settings import Settings

SAMPLE = Settings().routing.directory()
runner = CliRunner()


def copy_sample(tmp_path: Path) -> Path:
    target = tmp_path / "policy"
    shutil.copytree(SAMPLE, target)
    return target


def test_check_prints_the_version_of_a_good_policy() -> None:
    result = runner.invoke(app, ["policy", "check", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: policy ")


def test_check_lists_every_bad_row_with_its_line(tmp_path: Path) -> None:
    policy = copy_sample(tmp_path)
    with (policy / "permitted.csv").open("a") as handle:
        handle.write(
            "S19-16,19-16,,covid.dose,transfer,vrs,*,health_mgmt,08227X,2021-02-17,,1825\n"
        )
        handle.write("S19-16,19-16,,covid.dose,sideways,vrs,*,health_mgmt,*,2021-02-17,,1825\n")
    result = runner.invoke(app, ["policy", "check", str(policy)])
    assert result.exit_code == 2
    lines = (policy / "permitted.csv").read_text().count("\n")
    assert f"permitted.csv:{lines - 1}: provider_org" in result.output
    assert f"permitted.csv:{lines}: direction" in result.output


def test_diff_shows_what_is_granted_and_taken_away(tmp_path: Path) -> None:
    policy = copy_sample(tmp_path)
    text = (policy / "permitted.csv").read_text()
    text = text.replace(
        "S19-16,19-16,,covid.certificate,transfer,kiosk,*,vrs,*,2021-02-17,,1825\n", ""
    )
    text += (
        "B2-16-2,19-8,16-2,vaccination.history,transfer,intermediate,*,health_mgmt,*,"
        "2016-01-01,,2555\n"
    )
    (policy / "permitted.csv").write_text(text)
    result = runner.invoke(app, ["policy", "diff", str(SAMPLE), str(policy)])
    assert result.exit_code == 0, result.output
    assert "2 change(s)" in result.output
    assert "- permitted.csv:" in result.output
    assert "covid.certificate transfer: kiosk@* -> vrs@*" in result.output
    assert "+ permitted.csv:" in result.output
    assert "B2-16-2 vaccination.history transfer: intermediate@* -> health_mgmt@*" in result.output
