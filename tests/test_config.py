"""Settings: defaults < wess.toml < environment < flags, validated with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from wess.config import effective_items, load_settings
from wess.config.sizes import CacheSize
from wess.errors import ConfigError


def test_defaults_match_the_documented_ones():
    """With nothing set, Wess binds 127.0.0.1:8080, keeps data in ./data, 5 s and 256 MiB."""
    settings = load_settings(env={}).settings
    assert (settings.server.host, settings.server.port) == ("127.0.0.1", 8080)
    assert settings.database.path == Path("./data")
    assert settings.runner.timeout == 5000
    assert settings.runner.max_memory == 268435456
    assert settings.limits.max_module_size == 2 << 20
    assert settings.limits.max_args == 10
    assert settings.limits.max_table_elements == 100_000


def test_layers_apply_in_order_and_record_their_source(tmp_path):
    """A flag beats the environment, which beats the file, which beats the default."""
    config = tmp_path / "wess.toml"
    config.write_text('[server]\nport = 7000\nhost = "0.0.0.0"\n[runner]\ntimeout = 100\n')
    loaded = load_settings(
        config_file=config,
        env={"WESS_SERVER_PORT": "7001", "WESS_RUNNER_TIMEOUT": "30000"},
        flags={"server.port": 7002, "server.host": None},
    )
    assert loaded.settings.server.port == 7002
    assert loaded.settings.server.host == "0.0.0.0"
    assert loaded.settings.runner.timeout == 30000
    assert loaded.sources["server.port"] == "flag"
    assert loaded.sources["server.host"] == f"file {config}"
    assert loaded.sources["runner.timeout"] == "environment WESS_RUNNER_TIMEOUT"
    assert loaded.sources["runner.max_memory"] == "default"


@pytest.mark.parametrize(
    ("name", "key", "value"),
    [
        ("WESS_SERVER_HOST", "server.host", "0.0.0.0"),
        ("WESS_SERVER_PORT", "server.port", 9999),
        ("WESS_DB_PATH", "database.path", Path("/tmp/wess-data")),
        ("WESS_LOG_LEVEL", "logging.level", "debug"),
        ("WESS_RUNNER_TIMEOUT", "runner.timeout", 30000),
        ("WESS_RUNNER_MAX_MEMORY", "runner.max_memory", 1 << 20),
        ("WESS_READER_CACHE_SIZE", "reader.cache_size", CacheSize(max_entries=1024)),
        ("WESS_READER_CACHE_SIZE", "reader.cache_size", CacheSize(max_bytes=1 << 20)),
        ("WESS_READER_TTL", "reader.ttl", 1.5),
        ("WESS_LIMITS_MAX_ARGS", "limits.max_args", 3),
    ],
)
def test_documented_environment_names(name, key, value):
    """Each documented environment name sets its key (values arrive as strings)."""
    raw = str(value).upper() if name == "WESS_LOG_LEVEL" else str(value)
    settings = load_settings(env={name: raw}).settings
    section, field = key.split(".")
    assert getattr(getattr(settings, section), field) == value


def test_unrelated_wess_variables_are_ignored():
    """WESS_URL and WESS_CONFIG belong to the CLI; they are not configuration errors."""
    load_settings(env={"WESS_URL": "http://x", "WESS_REQUIRE_SERVICES": "1"})


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WESS_SERVER_PORT": "70000"}, ["server.port", "'70000'", "<= 65535"]),
        ({"WESS_RUNNER_TIMEOUT": "soon"}, ["runner.timeout", "'soon'", "whole number"]),
        ({"WESS_RUNNER_TIMEOUT": "0"}, ["runner.timeout", ">= 1"]),
        ({"WESS_LOG_LEVEL": "loud"}, ["logging.level", "'loud'", "WESS_LOG_LEVEL"]),
        ({"WESS_SERVER_COLOUR": "red"}, ["server.colour", "allowed: host, port"]),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(env, expected):
    """A bad value stops start-up with a message naming key, value, source and the rule."""
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    for fragment in expected:
        assert fragment in str(caught.value)


def test_bad_files_are_reported(tmp_path):
    """A missing file, broken TOML or an unknown section is a ConfigError, not a traceback."""
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_file=tmp_path / "nope.toml", env={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[server\nport = 1")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_file=broken, env={})
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[servr]\nport = 1\n")
    with pytest.raises(ConfigError, match=r"unknown section \[servr\]"):
        load_settings(config_file=unknown, env={})


def test_config_file_comes_from_wess_config(tmp_path):
    """WESS_CONFIG names the file when --config is not given."""
    config = tmp_path / "other.toml"
    config.write_text("[server]\nport = 8181\n")
    assert load_settings(env={"WESS_CONFIG": str(config)}).settings.server.port == 8181


def test_json_body_limit_fits_a_full_size_module():
    """The legacy JSON form spends up to 4 bytes per wasm byte; its limit is derived."""
    settings = load_settings(env={"WESS_LIMITS_MAX_MODULE_SIZE": "1048576"}).settings
    assert settings.limits.max_json_body >= 4 * 1048576


def test_effective_items_lists_every_key_once():
    """`wess config show` prints every key exactly once."""
    keys = [key for key, _ in effective_items(load_settings(env={}).settings)]
    assert len(keys) == len(set(keys))
    assert {"server.port", "runner.timeout", "runner.max_memory", "reader.ttl"} <= set(keys)


def test_database_path_becomes_a_storage_url(tmp_path):
    """A data dir with URL-special characters still names that directory."""
    from urllib.parse import unquote, urlsplit

    odd = tmp_path / "a dir with %, ? and #"
    url = load_settings(env={"WESS_DB_PATH": str(odd)}).settings.database.effective_url
    parsed = urlsplit(url)
    assert parsed.scheme == "rocksdb"
    assert unquote(parsed.path) == str(odd)


def test_address_lists_come_comma_separated_from_the_environment_or_as_toml_lists(tmp_path):
    """allowed_hosts, cors_origins and trusted_proxies: a TOML list, or one
    comma-separated environment variable; empty by default and when set empty."""
    config = tmp_path / "wess.toml"
    config.write_text('[server]\nallowed_hosts = ["wess.example", "[::1]:8080"]\n')
    env = {
        "WESS_SERVER_CORS_ORIGINS": "https://app.example, http://localhost:3000",
        "WESS_SERVER_TRUSTED_PROXIES": "10.0.0.0/8,::1",
    }
    server = load_settings(config_file=config, env=env).settings.server
    assert server.allowed_hosts == ("wess.example", "[::1]:8080")
    assert server.cors_origins == ("https://app.example", "http://localhost:3000")
    assert server.trusted_proxies == ("10.0.0.0/8", "::1")
    defaults = load_settings(env={"WESS_SERVER_TRUSTED_PROXIES": ""}).settings.server
    assert (defaults.allowed_hosts, defaults.cors_origins, defaults.trusted_proxies) == ((), (), ())
    assert (defaults.header_timeout, defaults.body_timeout) == (10.0, 30.0)
    assert defaults.max_connections_per_client == 128


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"WESS_SERVER_ALLOWED_HOSTS": "http://wess.example"}, "not a host name"),
        ({"WESS_SERVER_ALLOWED_HOSTS": "*.example"}, "not a host name"),
        ({"WESS_SERVER_ALLOWED_HOSTS": "wess.example:0"}, "port must be 1 to 65535"),
        ({"WESS_SERVER_CORS_ORIGINS": "app.example"}, "not an origin"),
        ({"WESS_SERVER_CORS_ORIGINS": "https://app.example/path"}, "not an origin"),
        ({"WESS_SERVER_CORS_ORIGINS": "*"}, "not an origin"),
        ({"WESS_SERVER_TRUSTED_PROXIES": "proxy.example"}, "not an address or a network"),
        ({"WESS_SERVER_HEADER_TIMEOUT": "0"}, "server.header_timeout"),
        ({"WESS_SERVER_MAX_CONNECTIONS_PER_CLIENT": "0"}, "server.max_connections_per_client"),
    ],
)
def test_address_settings_that_no_request_could_match_stop_start_up(env, expected):
    """A URL where a host name belongs, an origin with a path, a proxy by name: refused at
    start-up with the reason, instead of quietly refusing every request."""
    with pytest.raises(ConfigError) as caught:
        load_settings(env=env)
    assert expected in str(caught.value)


def test_the_commands_section_and_the_api_policy_agree():
    """[commands]' defaults are the API's CommandPolicy defaults, field for field (the
    server builds the policy from the section)."""
    from wess.api.commands import CommandPolicy
    from wess.config.commands import CommandsSettings

    assert CommandPolicy(**CommandsSettings().model_dump()) == CommandPolicy()
