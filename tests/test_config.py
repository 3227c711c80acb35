import stat
from pathlib import Path

import pytest

from lib import config


@pytest.fixture
def secrets_file(tmp_path: Path) -> Path:
    path = tmp_path / "secrets.toml"
    path.write_text(
        'MAIL_TRANSPORT = "smtp"\n'
        'SMTP_HOST = "smtp.secrets.example"\n'
        "SMTP_PORT = 2525\n"
        'MAIL_FROM = "Cobranza <cobranza@secrets.example>"\n'
        "[auth]\n"
        'client_id = "belongs-to-streamlit"\n',
        encoding="utf-8",
    )
    return path


def load(tmp_path: Path, secrets: Path | None = None, **env: str) -> config.Settings:
    return config.load_settings(
        secrets or tmp_path / "none.toml", {"DATA_DIR": str(tmp_path), **env}
    )


def test_defaults_work_without_any_configuration(tmp_path: Path) -> None:
    settings = load(tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path / 'envio.db'}"
    assert settings.mail_transport == "outbox"
    assert settings.outbox_dir == tmp_path / "outbox"
    assert settings.smtp_security == "starttls"
    assert settings.smtp_port == 587
    assert settings.mail_rate_per_minute == 30
    assert settings.mail_daily_limit == 10_000
    assert settings.demo_data is True
    assert settings.auth_cookie_expiry_days == 1.0
    assert settings.timezone.key == "America/Mexico_City"


def test_secrets_file_values_are_used(tmp_path: Path, secrets_file: Path) -> None:
    settings = load(tmp_path, secrets_file)
    assert settings.mail_transport == "smtp"
    assert settings.smtp_host == "smtp.secrets.example"
    assert settings.smtp_port == 2525


def test_environment_overrides_secrets_file(tmp_path: Path, secrets_file: Path) -> None:
    settings = load(tmp_path, secrets_file, SMTP_HOST="smtp.env.example", SMTP_PORT="465")
    assert settings.smtp_host == "smtp.env.example"
    assert settings.smtp_port == 465
    assert settings.mail_from == "Cobranza <cobranza@secrets.example>"


def test_demo_data_is_off_by_default_for_another_database(tmp_path: Path) -> None:
    settings = load(tmp_path, DATABASE_URL="postgresql+psycopg://u@db/envio")
    assert settings.demo_data is False
    assert load(tmp_path, DATABASE_URL="postgresql+psycopg://u@db/e", DEMO_DATA="si").demo_data


def test_demo_data_can_be_turned_off_for_the_embedded_database(tmp_path: Path) -> None:
    assert load(tmp_path, DEMO_DATA="false").demo_data is False


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MAIL_TRANSPORT", "pigeon", "MAIL_TRANSPORT debe ser uno de outbox, smtp"),
        ("SMTP_SECURITY", "tls", "SMTP_SECURITY debe ser uno de starttls, ssl, none"),
        ("SMTP_PORT", "abc", "SMTP_PORT debe ser un número entero"),
        ("SMTP_PORT", "0", "SMTP_PORT debe ser al menos 1"),
        ("MAIL_RATE_PER_MINUTE", "-1", "MAIL_RATE_PER_MINUTE debe ser al menos 0"),
        ("DEMO_DATA", "quizá", "DEMO_DATA debe ser true o false"),
        ("AUTH_COOKIE_EXPIRY_DAYS", "0", "AUTH_COOKIE_EXPIRY_DAYS debe estar entre 0 y 365"),
        ("AUTH_COOKIE_EXPIRY_DAYS", "un día", "debe ser un número de días"),
        ("TIMEZONE", "Marte/Olympus", "no es una zona horaria conocida"),
        ("AUTH_COOKIE_KEY", "change-me", "AUTH_COOKIE_KEY debe ser un secreto aleatorio"),
        ("AUTH_COOKIE_KEY", "short-key", "AUTH_COOKIE_KEY debe ser un secreto aleatorio"),
        ("BOUNCE_CHECK", "pop3", "BOUNCE_CHECK debe ser uno de off, imap, graph"),
        ("BOUNCE_IMAP_SECURITY", "tls", "BOUNCE_IMAP_SECURITY debe ser uno de ssl, starttls, none"),
        ("BOUNCE_CHECK_MINUTES", "0", "BOUNCE_CHECK_MINUTES debe ser al menos 1"),
        ("MAIL_MAX_MB", "0", "MAIL_MAX_MB debe ser al menos 1"),
        ("MAIL_MAX_MB", "20MB", "MAIL_MAX_MB debe ser un número entero"),
    ],
)
def test_invalid_values_are_refused_naming_the_setting(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    with pytest.raises(config.SettingsError, match=message):
        load(tmp_path, **{name: value})


def test_no_invoices_folder_and_a_20_mb_email_unless_configured(tmp_path: Path) -> None:
    settings = load(tmp_path, INVOICES_DIR="  ")
    assert settings.invoices_dir is None
    assert settings.mail_max_mb == 20


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/srv/facturas", Path("/srv/facturas")), ("facturas", config.PROJECT_ROOT / "facturas")],
)
def test_the_invoices_folder_and_email_limit_are_read(
    tmp_path: Path, value: str, expected: Path
) -> None:
    settings = load(tmp_path, INVOICES_DIR=value, MAIL_MAX_MB="10")
    assert settings.invoices_dir == expected
    assert settings.mail_max_mb == 10


def test_broken_secrets_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "secrets.toml"
    broken.write_text("SMTP_HOST = \n", encoding="utf-8")
    with pytest.raises(config.SettingsError, match="no es un archivo TOML válido"):
        load(tmp_path, broken)


def test_missing_cookie_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load(tmp_path).auth_cookie_key
    second = load(tmp_path).auth_cookie_key
    key_file = tmp_path / config.COOKIE_KEY_FILE
    assert first == second
    assert len(first) >= config.MIN_COOKIE_KEY_LENGTH
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert list(tmp_path.glob(".auth_cookie_key*")) == []


def test_each_installation_gets_its_own_cookie_key(tmp_path: Path) -> None:
    one = load(tmp_path / "one").auth_cookie_key
    two = load(tmp_path / "two").auth_cookie_key
    assert one != two


def test_configured_cookie_key_is_used_as_is(tmp_path: Path) -> None:
    key = "k" * 40
    assert load(tmp_path, AUTH_COOKIE_KEY=key).auth_cookie_key == key
    assert not (tmp_path / config.COOKIE_KEY_FILE).exists()


def test_the_bounce_check_is_off_until_asked_for(tmp_path: Path) -> None:
    check = load(tmp_path).bounces
    assert (check.source, check.enabled, check.minutes) == ("off", False, 5)
    assert (check.imap_port, check.imap_security, check.imap_folder) == (993, "ssl", "INBOX")


def test_the_imap_bounce_check_takes_its_mailbox_from_the_settings(tmp_path: Path) -> None:
    check = load(
        tmp_path,
        BOUNCE_CHECK="imap",
        BOUNCE_IMAP_HOST="outlook.office365.com",
        BOUNCE_IMAP_SECURITY="starttls",
        BOUNCE_IMAP_PORT="143",
        BOUNCE_IMAP_USER="cobranza@contoso.example",
        BOUNCE_IMAP_PASSWORD="s3creto",
        BOUNCE_IMAP_FOLDER="Rebotes",
        BOUNCE_CHECK_MINUTES="10",
    ).bounces
    assert check.enabled
    assert (check.imap_host, check.imap_port, check.imap_security) == (
        "outlook.office365.com",
        143,
        "starttls",
    )
    assert (check.imap_user, check.imap_folder, check.minutes) == (
        "cobranza@contoso.example",
        "Rebotes",
        10,
    )
    assert "s3creto" not in repr(check)


def test_an_imap_bounce_check_without_its_mailbox_names_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(config.SettingsError, match="BOUNCE_IMAP_HOST, BOUNCE_IMAP_USER, "
                       "BOUNCE_IMAP_PASSWORD hace\\(n\\) falta"):  # fmt: skip
        load(tmp_path, BOUNCE_CHECK="imap")


def test_reading_bounces_with_microsoft_365_needs_the_app_credentials(tmp_path: Path) -> None:
    with pytest.raises(config.SettingsError, match=r"OAUTH_TENANT_ID.*BOUNCE_CHECK=graph"):
        load(tmp_path, BOUNCE_CHECK="graph")
    with pytest.raises(config.SettingsError, match="BOUNCE_IMAP_AUTH=xoauth2"):
        load(tmp_path, BOUNCE_CHECK="imap", BOUNCE_IMAP_HOST="h", BOUNCE_IMAP_USER="u",
             BOUNCE_IMAP_AUTH="xoauth2")  # fmt: skip
