"""The CLI parses, calls the library and prints (docs/architecture.md): no `cli/` module
reaches into `attest`, `sbom` or `policy`; it goes through `release/` (or the owning
package's public function) instead."""

from __future__ import annotations

import ast
from pathlib import Path

import hardbase.cli

CLI = Path(hardbase.cli.__file__).parent
INTERNAL = ("hardbase.attest", "hardbase.sbom", "hardbase.policy")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
    return found


def test_no_cli_module_imports_attest_sbom_or_policy() -> None:
    offenders = [
        f"{path.name}:{line}: {module}"
        for path in sorted(CLI.glob("*.py"))
        for line, module in _imports(path)
        if module in INTERNAL or module.startswith(tuple(f"{p}." for p in INTERNAL))
    ]
    assert offenders == []


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def run():\n    from hardbase.attest.sign import sign_image\n")
    assert _imports(sample) == [(2, "hardbase.attest.sign")]
