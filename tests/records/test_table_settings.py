"""The table-name settings."""

from __future__ import annotations

import pytest

from switchboard.settings import Settings, SettingsError
from tests.support import BASE_ENV


def test_table_names_default_and_can_be_set() -> None:
    assert (Settings.from_env(BASE_ENV).records_table, Settings.from_env(BASE_ENV).optouts_table) == (
        "records",
        "optouts",
    )
    custom = Settings.from_env(BASE_ENV | {"RECORDS_TABLE": "calls2026", "OPTOUTS_TABLE": "stoplist"})
    assert (custom.records_table, custom.optouts_table) == ("calls2026", "stoplist")


@pytest.mark.parametrize("name", ["ab", "1records", "my-records", "x" * 64])
def test_bad_table_names_are_refused_by_name(name: str) -> None:
    with pytest.raises(SettingsError, match="RECORDS_TABLE"):
        Settings.from_env(BASE_ENV | {"RECORDS_TABLE": name})
