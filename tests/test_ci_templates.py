"""The GitHub Action (action.yml) and the GitLab CI template against their published schemas.

The schemas are the ones check-jsonschema vendors (a test dependency): SchemaStore's
`github-action` schema and GitLab's `gitlab-ci` schema, with their licences in that
package (`check_jsonschema/builtin_schemas/vendor/licenses`). Beyond the schemas: every
input the action uses is declared and every declared one used, and every hardbase option
the templates call exists in that command's --help.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
GITLAB = ROOT / "contrib" / "ci" / "hardbase.gitlab-ci.yml"


def validate(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("schema", "path"), [("vendor.github-actions", ACTION), ("vendor.gitlab-ci", GITLAB)]
)
def test_templates_match_their_published_schemas(schema: str, path: Path) -> None:
    pytest.importorskip("check_jsonschema")
    result = validate(schema, path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schemas_refuse_broken_templates(tmp_path: Path) -> None:
    pytest.importorskip("check_jsonschema")
    action = yaml.safe_load(ACTION.read_text())
    del action["runs"]["using"]
    broken_action = tmp_path / "action.yml"
    broken_action.write_text(yaml.safe_dump(action))
    assert validate("vendor.github-actions", broken_action).returncode == 1
    gitlab = yaml.safe_load(GITLAB.read_text())
    gitlab["hardbase-scan"]["artifacts"]["when"] = "sometimes"
    broken_gitlab = tmp_path / "ci.yml"
    broken_gitlab.write_text(yaml.safe_dump(gitlab))
    assert validate("vendor.gitlab-ci", broken_gitlab).returncode == 1


def test_action_inputs_are_declared_and_used() -> None:
    action = yaml.safe_load(ACTION.read_text())
    declared = set(action["inputs"])
    used = set(re.findall(r"inputs\.([a-z-]+)", ACTION.read_text()))
    assert used == declared


def _hardbase_calls(text: str) -> list[list[str]]:
    calls = []
    for line in text.splitlines():
        found = re.search(r"\bhardbase ((?:db )?[a-z]+)\b(.*)", line)
        if found and not line.lstrip().startswith("#") and "echo" not in line:
            calls.append([*found.group(1).split(), *re.findall(r"--[a-z-]+", found.group(2))])
    return calls


@pytest.mark.parametrize("path", [ACTION, GITLAB])
def test_every_hardbase_option_the_templates_use_exists(path: Path) -> None:
    calls = _hardbase_calls(path.read_text())
    assert {c[0] for c in calls} >= {"scan", "build", "db"}
    for call in calls:
        command = [c for c in call if not c.startswith("--")]
        options = [c for c in call if c.startswith("--")]
        usage = subprocess.run(
            [sys.executable, "-m", "hardbase", *command, "--help"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        for option in options:
            assert option in usage, f"hardbase {' '.join(command)} has no {option}"
