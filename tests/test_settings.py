"""auditor.toml: discovery, precedence (option > environment > file > default), refused secrets, `auditor init`."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from auditor.cli import main
from auditor.ops.settings import SettingsError, load_settings
from auditor.ops.starter import STARTER_TOML
from auditor.rulebook import load_policy

from .conftest import RULES


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def status_json(*args: str, env: dict[str, str] | None = None) -> dict:
    result = run(*args, "status", "--format", "json", env=env)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory without AUDITOR_* settings in the environment."""
    for name in ("AUDITOR_DATABASE_URL", "AUDITOR_CONFIG", "AUDITOR_SMTP_HOST", "AUDITOR_SMTP_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_database_url_precedence_option_environment_file_default(workdir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    assert status_json()["database"] == "sqlite:///auditor.db"  # no file: the default
    (workdir / "auditor.toml").write_text('[database]\nurl = "sqlite:///from-file.db"\n', encoding="utf-8")
    assert status_json()["database"] == "sqlite:///from-file.db"
    monkeypatch.setenv("AUDITOR_DATABASE_URL", "sqlite:///from-env.db")
    assert status_json()["database"] == "sqlite:///from-env.db"
    result = run("status", "--format", "json", "--db", "sqlite:///from-option.db")
    assert json.loads(result.output)["database"] == "sqlite:///from-option.db"
    assert not any(workdir.glob("*.db"))  # status never creates a database


def test_rules_policy_and_time_zone_come_from_the_file_relative_to_it(workdir: Path) -> None:
    conf = workdir / "etc"
    (conf / "myrules").mkdir(parents=True)
    (conf / "myrules" / "representation.yml").write_text(
        (RULES / "representation.yml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    (conf / "auditor.toml").write_text('timezone = "Asia/Tokyo"\n[paths]\nrules = ["myrules"]\n', encoding="utf-8")
    listed = run("--config", str(conf / "auditor.toml"), "rules", "list")
    assert listed.exit_code == 0 and "REP-001" in listed.output and "MAT-001" not in listed.output
    overridden = run(
        "--config", str(conf / "auditor.toml"), "rules", "list", "--rules", str(RULES / "sales_material.yml")
    )
    assert "MAT-001" in overridden.output and "REP-001" not in overridden.output
    state = status_json("--config", str(conf / "auditor.toml"))
    assert state["rules"]["timezone"] == "Asia/Tokyo" and state["rules"]["count"] == 3
    assert state["rules"]["policy"] == str(conf / "auditor.toml")
    by_env = status_json(env={"AUDITOR_CONFIG": str(conf / "auditor.toml")})
    assert by_env["rules"]["timezone"] == "Asia/Tokyo"


def test_environment_overrides_smtp_settings_of_the_file(workdir: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = workdir / "auditor.toml"
    path.write_text('[smtp]\nhost = "mail.example.com"\nport = 25\ntls = "none"\nuser = "bot"\n', encoding="utf-8")
    settings = load_settings(path)
    assert (settings.smtp.host, settings.smtp.resolved_port, settings.smtp.user) == ("mail.example.com", 25, "bot")
    monkeypatch.setenv("AUDITOR_SMTP_HOST", "relay.local")
    monkeypatch.setenv("AUDITOR_SMTP_PORT", "2525")
    monkeypatch.setenv("AUDITOR_SMTP_PASSWORD", "from-the-environment")
    settings = load_settings(path)
    assert (settings.smtp.host, settings.smtp.resolved_port) == ("relay.local", 2525)
    assert settings.smtp.password() == "from-the-environment"
    assert "from-the-environment" not in settings.model_dump_json()  # never part of the settings themselves


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[smtp]\nhost = "x"\npassword = "hunter2"\n', "smtp.password: passwords are never read from the file"),
        ('smtp_password = "hunter2"\n', "smtp_password: passwords are never read from the file"),
        ('[database]\nurl = "postgresql+psycopg://me:hunter2@db/audit"\n', "the URL holds a password"),
        ('[smtp]\nhots = "mail"\n', "smtp.hots: Extra inputs are not permitted"),
        ('[owners]\nsales-operations = "nobody"\n', "'nobody' is not an e-mail address"),
        ('[smtp]\ntls = "maybe"\n', "smtp.tls"),
        ("[paths\n", "cannot read settings"),
    ],
)
def test_bad_settings_are_refused_with_the_file_named(workdir: Path, text: str, message: str) -> None:
    path = workdir / "auditor.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError, match="auditor.toml: .*" + message.replace("[", r"\[").replace("(", r"\(")):
        load_settings(path)
    result = CliRunner().invoke(main, ["status"])  # every command refuses it: exit 2, the problem named
    assert result.exit_code == 2 and message in result.output and "hunter2" not in result.output


def test_policy_keys_belong_where_the_policy_is(workdir: Path) -> None:
    (workdir / "policy.yml").write_text("holidays: [2026-12-25]\n", encoding="utf-8")
    (workdir / "auditor.toml").write_text('timezone = "Europe/Berlin"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match=r"policy settings \(timezone\) found here but the policy in use is"):
        load_settings(workdir / "auditor.toml")
    (workdir / "auditor.toml").write_text("[owners]\nx = 'x@example.com'\n", encoding="utf-8")
    assert load_settings(workdir / "auditor.toml").policy_path() == workdir / "policy.yml"


def test_init_writes_a_starter_that_loads_and_refuses_to_overwrite(workdir: Path) -> None:
    first = run("init")
    assert first.exit_code == 0, first.output
    assert (workdir / "rules").is_dir() and (workdir / "rules" / "tests").is_dir()
    text = (workdir / "auditor.toml").read_text(encoding="utf-8")
    assert text == STARTER_TOML and tomllib.loads(text)
    settings = load_settings(workdir / "auditor.toml")
    assert settings.policy_path() == workdir / "auditor.toml"
    assert load_policy(settings.policy_path()).timezone == "UTC"
    listed = run("rules", "list")  # the empty rules folder is the catalog in use now
    assert listed.exit_code == 0 and "MAT-001" not in listed.output
    (workdir / "auditor.toml").write_text("# mine\n", encoding="utf-8")
    again = run("init")
    assert again.exit_code == 2 and "already exist" in again.output
    assert (workdir / "auditor.toml").read_text(encoding="utf-8") == "# mine\n"
