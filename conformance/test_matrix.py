"""The feature matrix in README.md is generated from the declarations, and current."""

from __future__ import annotations

from anymail.registry import installed_esps

from .matrix import committed_table, parse, render
from .profiles import PACKAGES_DIR


def esp_packages_in_repo() -> set[str]:
    return {
        path.name for path in PACKAGES_DIR.iterdir() if list(path.glob("src/anymail/esps/*.py"))
    }


def test_committed_matrix_matches_installed_declarations():
    committed = parse(committed_table())
    generated = parse(render(installed_esps().values()))
    assert committed, "README.md's feature matrix is empty"
    assert committed["Feature"] == generated["Feature"], (
        "feature rows changed: run `hatch run matrix`"
    )
    for esp in installed_esps().values():
        assert esp.name in committed, (
            f"{esp.name} is missing from README's matrix: run `hatch run matrix`"
        )
        assert committed[esp.name] == generated[esp.name], (
            f"{esp.name}'s column is stale: run `hatch run matrix`"
        )


def test_committed_matrix_has_one_column_per_esp_package():
    committed = parse(committed_table())
    assert len(committed) - 1 == len(esp_packages_in_repo()), (
        f"README's matrix has columns {sorted(committed)[1:]} but the ESP packages are "
        f"{sorted(esp_packages_in_repo())}: run `hatch run matrix` with every package installed"
    )


def test_every_installed_esp_has_a_profile():
    from .profiles import esps_without_profile

    assert esps_without_profile() == []
