"""Settings: defaults, validation messages, .env precedence."""

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from qbwc_bridge.config import ConfigError, load_settings
from qbwc_bridge.versions import QbxmlVersion


def test_defaults_without_anything_set() -> None:
    settings = load_settings({}, env_file=None)
    assert settings.convex_url is None
    assert settings.qbxml_version == QbxmlVersion(13, 0)
    assert settings.batch_size == 25
    assert settings.session_ttl_seconds == 3600
    assert settings.min_client_version == (2, 0, 0, 0)
    assert settings.qb_timezone is None  # the bridge machine's local zone
    assert settings.postpone_seconds == 0
    assert settings.company_file == ""
    assert settings.port == 8080
    assert settings.host == "127.0.0.1"
    assert not settings.has_credentials


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QBWC_BATCH_SIZE": "0"}, "QBWC_BATCH_SIZE must be between 1 and 100"),
        ({"QBWC_BATCH_SIZE": "ten"}, "QBWC_BATCH_SIZE must be a whole number"),
        ({"QBXML_VERSION": "13"}, "QBXML_VERSION must look like 13.0"),
        ({"QBXML_VERSION": "thirteen"}, "QBXML_VERSION must look like 13.0"),
        ({"QBXML_VERSION": "99.0"}, "QBXML_VERSION must be between 1.0 and 16.0, got '99.0'"),
        ({"QBXML_VERSION": "0.5"}, "QBXML_VERSION must be between 1.0 and 16.0"),
        ({"QBWC_MIN_CLIENT_VERSION": "garbage"}, "QBWC_MIN_CLIENT_VERSION must be a version"),
        ({"QBWC_MIN_CLIENT_VERSION": "2.3.0.beta"}, "QBWC_MIN_CLIENT_VERSION must be a version"),
        ({"QB_TIMEZONE": "America/Chicgo"}, "QB_TIMEZONE must be an IANA time zone"),
        ({"QB_TIMEZONE": "CST6CDT/x"}, "QB_TIMEZONE must be an IANA time zone"),
        ({"QB_TIMEZONE": "America"}, "QB_TIMEZONE must be an IANA time zone"),  # a folder
        ({"QB_TIMEZONE": "/etc/localtime"}, "QB_TIMEZONE must be an IANA time zone"),
        ({"QB_TIMEZONE": "../../etc"}, "QB_TIMEZONE must be an IANA time zone"),
        ({"QB_TIMEZONE": "x" * 300}, "QB_TIMEZONE must be an IANA time zone"),
        ({"QBWC_SESSION_TTL_SECONDS": "59"}, "QBWC_SESSION_TTL_SECONDS must be between 60"),
        ({"QBWC_POSTPONE_SECONDS": "-1"}, "QBWC_POSTPONE_SECONDS must be between 0"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of json, console"),
        ({"CONVEX_URL": "ftp://x"}, "CONVEX_URL must be an http"),
        ({"PORT": "70000"}, "PORT must be between 0 and 65535"),
    ],
)
def test_invalid_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(env, env_file=None)


def test_typed_values_are_parsed_once() -> None:
    settings = load_settings(
        {
            "QBXML_VERSION": " 12.0 ",
            "QBWC_MIN_CLIENT_VERSION": "2.3.0.215",
            "QB_TIMEZONE": "America/Chicago",
        },
        env_file=None,
    )
    assert settings.qbxml_version == QbxmlVersion(12, 0)
    assert settings.min_client_version == (2, 3, 0, 215)
    assert settings.qb_timezone == ZoneInfo("America/Chicago")


@pytest.mark.parametrize("version", ["1.0", "16.0", "13.1"])
def test_every_version_quickbooks_shipped_is_accepted(version: str) -> None:
    assert str(load_settings({"QBXML_VERSION": version}, env_file=None).qbxml_version) == version


def test_require_convex_names_what_is_missing() -> None:
    settings = load_settings({"CONVEX_URL": "https://x.convex.cloud"}, env_file=None)
    with pytest.raises(ConfigError, match="CONVEX_DEPLOY_KEY"):
        settings.require_convex()


def test_require_credentials() -> None:
    with pytest.raises(ConfigError, match="QBWC_USERNAME"):
        load_settings({}, env_file=None).require_credentials()
    with pytest.raises(ConfigError, match="QBWC_PASSWORD_HASH"):
        load_settings({"QBWC_USERNAME": "u"}, env_file=None).require_credentials()
    load_settings({"QBWC_USERNAME": "u", "QBWC_PASSWORD": "p"}, env_file=None).require_credentials()


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("QBWC_BATCH_SIZE=7\nQBWC_USERNAME=from-file\n")
    settings = load_settings({"QBWC_BATCH_SIZE": "9"}, env_file=env_file)
    assert settings.batch_size == 9
    assert settings.qbwc_username == "from-file"
