"""README.md's generated tables are current: the package list and the feature matrix."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from anymail.registry import current_esps, installed_esps

_path = Path(__file__).resolve().parent.parent / "scripts" / "readme_tables.py"
_spec = importlib.util.spec_from_file_location("readme_tables", _path)
readme_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(readme_tables)


def test_package_table_lists_every_package():
    assert readme_tables.committed("packages") == readme_tables.render_packages(), (
        "README.md's package table is stale: run `hatch run matrix`"
    )


def test_committed_matrix_matches_installed_declarations():
    committed = readme_tables.parse(readme_tables.committed("feature-matrix"))
    generated = readme_tables.parse(readme_tables.render_features())
    assert committed, "README.md's feature matrix is empty"
    assert committed["Feature"] == generated["Feature"], (
        "feature rows changed: run `hatch run matrix`"
    )
    for esp in current_esps().values():  # (a renamed ESP's old name has no column)
        assert esp.name in committed, (
            f"{esp.name} is missing from README's matrix: run `hatch run matrix`"
        )
        assert committed[esp.name] == generated[esp.name], (
            f"{esp.name}'s column is stale: run `hatch run matrix`"
        )


def test_committed_matrix_has_one_column_per_esp_package():
    committed = readme_tables.parse(readme_tables.committed("feature-matrix"))
    packages = readme_tables.esp_packages_in_repo()
    superseded = {esp.distribution for esp in installed_esps().values() if esp.superseded_by}
    packages = [p for p in packages if p not in superseded]
    assert len(committed) - 1 == len(packages), (
        f"README's matrix has columns {sorted(committed)[1:]} but the ESP packages are "
        f"{packages}: run `hatch run matrix` with every package installed"
    )


def test_every_installed_esp_has_a_profile():
    from anymail_conformance.profiles import esps_without_profile

    assert esps_without_profile() == []
