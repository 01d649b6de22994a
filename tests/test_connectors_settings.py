"""HRUPLOAD_CONNECTORS: read from a file or inline, checked at start-up, each problem named."""

from __future__ import annotations

import json

import pytest

from hrupload.core.errors import ConfigError
from hrupload.settings import load


def conf(*connectors, sources=None, **extra) -> str:
    doc = {"connectors": list(connectors), **extra}
    if sources is not None:
        doc["sources"] = sources
    return json.dumps(doc)


LEAVERS = {"name": "leavers", "folder": "leavers", "job_id": "job-1"}
PROFILES = {"name": "profiles", "folder": "profiles", "job_id": "job-2", "app_id": "app-2"}


def test_without_connectors_the_single_connector_settings_stand():
    settings = load({"HRUPLOAD_JOB_ID": "job-0"})
    assert settings.connectors == ()
    assert settings.job_id == "job-0"


def test_inline_connectors_are_read_with_the_deployment_defaults_under_them():
    env = {
        "HRUPLOAD_APP_ID": "app-0",
        "HRUPLOAD_APP_SECRET": "s0",
        "HRUPLOAD_CONNECTORS": conf(
            dict(LEAVERS, folder="/leavers/"),
            dict(PROFILES, secret_env="PROFILES_SECRET", cloud="GCC", profile={"columns": {}}),
        ),
        "PROFILES_SECRET": "s2",
    }
    settings = load(env)
    leavers, profiles = settings.connectors
    assert leavers.folder == "leavers"
    assert leavers.claims("leavers/a.csv") and not leavers.claims("leaversX/a.csv")
    one = settings.for_connector(leavers)
    assert (one.job_id, one.app_id, one.app_secret, one.cloud) == (
        "job-1",
        "app-0",
        "s0",
        "commercial",
    )
    two = settings.for_connector(profiles)
    assert (two.job_id, two.app_id, two.app_secret, two.cloud) == ("job-2", "app-2", "s2", "gcc")
    assert json.loads(two.profile) == {"columns": {}}
    assert "s2" not in repr(profiles) and "s2" not in repr(two)


def test_another_apps_connector_never_gets_the_deployments_secret():
    env = {
        "HRUPLOAD_APP_ID": "app-0",
        "HRUPLOAD_APP_SECRET": "s0",
        "HRUPLOAD_CONNECTORS": conf(PROFILES),
    }
    settings = load(env)
    two = settings.for_connector(settings.connectors[0])
    assert two.app_secret is None
    with pytest.raises(ConfigError, match=r"connector 'profiles'.*app secret"):
        two.require_connector()


def test_connectors_are_read_from_a_file(tmp_path):
    path = tmp_path / "connectors.json"
    path.write_text(conf(LEAVERS), encoding="utf-8")
    assert load({"HRUPLOAD_CONNECTORS": str(path)}).connectors[0].name == "leavers"
    with pytest.raises(ConfigError, match=r"HRUPLOAD_CONNECTORS.*cannot be read"):
        load({"HRUPLOAD_CONNECTORS": str(tmp_path / "missing.json")})


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{not json", "HRUPLOAD_CONNECTORS is not valid JSON"),
        (conf(), "'connectors' must be a list of one or more"),
        (conf(LEAVERS, extra=1), "unknown field 'extra'"),
        (conf(LEAVERS, dict(LEAVERS, folder="other")), "two connectors are named 'leavers'"),
        (
            conf(LEAVERS, dict(PROFILES, folder="leavers")),
            "'leavers' and 'profiles' both have folder 'leavers'",
        ),
        (
            conf(LEAVERS, dict(PROFILES, folder="leavers/profiles")),
            "'leavers''s folder 'leavers' holds connector 'profiles''s folder",
        ),
        (
            conf(dict(PROFILES, folder="hr/p"), dict(LEAVERS, folder="hr")),
            "'leavers''s folder 'hr' holds connector 'profiles''s",
        ),
        (
            conf(dict(LEAVERS, job_id="")),
            r"connector 'leavers' \(connectors\[0\]\): 'job_id' is missing",
        ),
        (conf({"name": "x", "folder": "x"}), "connector 'x'.*'job_id' is missing"),
        (conf(dict(LEAVERS, cloud="moon")), "connector 'leavers'.*cloud must be one of"),
        (
            conf(dict(LEAVERS, jobid="j")),
            "connector 'leavers'.*unknown field 'jobid'; the fields are name, folder, job_id",
        ),
        (conf({"folder": "x", "job_id": "j"}), r"connectors\[0\]: 'name' is missing"),
        (conf(dict(LEAVERS, folder="../x")), "connector 'leavers'.*folder"),
        (conf(dict(LEAVERS, name="has space")), "name 'has space' may hold only"),
        (conf(LEAVERS, sources=[{"kind": "ftp", "connector": "leavers"}]), r"sources\[0\]: kind"),
        (
            conf(LEAVERS, sources=[{"kind": "https", "connector": "nobody"}]),
            r"sources\[0\]: connector 'nobody' is not one of the configured connectors \(leavers\)",
        ),
    ],
)
def test_each_configuration_error_is_named(doc, message):
    with pytest.raises(ConfigError, match=message):
        load({"HRUPLOAD_CONNECTORS": doc})


def test_sources_are_kept_for_the_pull_to_come():
    settings = load(
        {
            "HRUPLOAD_CONNECTORS": conf(
                LEAVERS, sources=[{"kind": "sharepoint", "connector": "leavers", "drive_id": "d"}]
            )
        }
    )
    assert settings.sources[0]["drive_id"] == "d"
    assert load({"HRUPLOAD_CONNECTORS": conf(LEAVERS, sources=[])}).sources == ()


def test_a_connectors_secret_variable_is_part_of_the_fingerprint():
    from hrupload.settings import fingerprint

    env = {"HRUPLOAD_CONNECTORS": conf(dict(LEAVERS, secret_env="LEAVERS_SECRET"))}
    assert fingerprint(env | {"LEAVERS_SECRET": "a"}) != fingerprint(env | {"LEAVERS_SECRET": "b"})
    assert fingerprint({"HRUPLOAD_CONNECTORS": "{broken"}) is not None


def test_the_settings_description_names_both_lists():
    """The help (README's table, --help, the sample settings) says what the setting holds:
    the connectors and the sources pulled into their folders."""
    from hrupload.settings import SETTINGS

    text = next(s.help for s in SETTINGS if s.name == "HRUPLOAD_CONNECTORS")
    assert '"connectors"' in text and '"sources"' in text
