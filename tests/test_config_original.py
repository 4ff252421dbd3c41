"""The original Wess's configuration files load, with the original meaning of each key.

ORIGINAL_WESS_TOML is the original project's own wess.toml and ARCH_EXAMPLE the example
in its ARCH.md (github.com/olivmath/wess), both verbatim; docs/configuration.md shows
them and a test checks it shows them unchanged.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from wess.config import load_settings
from wess.config.sizes import CacheSize
from wess.errors import ConfigError
from wess.server.serving import refuse_unavailable, serve

ROOT = Path(__file__).resolve().parents[1]

ORIGINAL_WESS_TOML = """\
[server]
port = 80
address = "0.0.0.0"

[database]
db = "rocksdb"
stage = "dev"

[reader]
cache_size = 1024
channel_size = 1024

[writer]
channel_size = 1024

[runner]
cache_size = 1024
channel_size = 100
"""

ARCH_EXAMPLE = """\
[server]
host = "0.0.0.0"
port = 8080
workers = 4

[database]
path = "./data"
max_open_files = 1000

[reader]
cache_size = 100
ttl = 3600

[runner]
timeout = 5000
max_memory = 268435456 # 256MB
"""


def loaded(tmp_path: Path, text: str, **env: str):
    config = tmp_path / "wess.toml"
    config.write_text(text)
    return load_settings(config_file=config, env=env)


def test_the_original_wess_toml_loads_with_its_meaning(tmp_path: Path) -> None:
    """address is the host; caches count modules; each channel_size bounds its queue."""
    result = loaded(tmp_path, ORIGINAL_WESS_TOML)
    settings = result.settings
    assert (settings.server.host, settings.server.port) == ("0.0.0.0", 80)
    assert result.sources["server.host"] == f"file {tmp_path / 'wess.toml'}, as server.address"
    assert settings.database.db == "rocksdb"
    assert settings.database.stage == "dev"
    assert settings.database.effective_url.startswith("rocksdb:")
    assert settings.reader.cache_size == CacheSize(max_entries=1024)
    assert settings.reader.channel_size == 1024
    assert settings.writer.channel_size == 1024
    assert settings.runner.cache_size == CacheSize(max_entries=1024)
    assert settings.runner.channel_size == 100
    refuse_unavailable(settings)  # nothing in it is refused at start-up


def test_the_arch_md_example_loads_and_workers_is_refused_at_start(tmp_path: Path) -> None:
    """The ARCH.md example loads; its max_open_files reaches the RocksDB URL; its
    workers = 4 stops `wess serve` with a sentence, before anything opens."""
    settings = loaded(tmp_path, ARCH_EXAMPLE).settings
    assert settings.server.workers == 4
    assert settings.database.max_open_files == 1000
    assert settings.database.effective_url == "rocksdb:data?max_open_files=1000"
    assert settings.reader.cache_size == CacheSize(max_entries=100)
    assert settings.reader.ttl == 3600
    assert (settings.runner.timeout, settings.runner.max_memory) == (5000, 256 << 20)
    with pytest.raises(ConfigError, match="opened by one process only"):
        refuse_unavailable(settings)


async def test_serve_refuses_several_workers_before_opening_anything(tmp_path: Path) -> None:
    """`wess serve` with server.workers > 1 stops before it creates the data directory."""
    data = tmp_path / "data"
    settings = load_settings(
        env={"WESS_SERVER_WORKERS": "2", "WESS_DB_PATH": str(data), "WESS_SERVER_PORT": "1"}
    ).settings
    with pytest.raises(ConfigError, match=r"server\.workers = 2"):
        await serve(settings)
    assert not data.exists()
    assert load_settings(env={"WESS_SERVER_WORKERS": "1"}).settings.server.workers == 1


def test_host_and_address_in_one_layer_must_agree(tmp_path: Path) -> None:
    """The same file giving host and address is fine if they agree, an error if not."""
    same = loaded(tmp_path, '[server]\nhost = "::1"\naddress = "::1"\n').settings
    assert same.server.host == "::1"
    with pytest.raises(ConfigError, match="disagree; address is the original Wess's name"):
        loaded(tmp_path, '[server]\nhost = "127.0.0.1"\naddress = "0.0.0.0"\n')


def test_a_later_layer_overrides_address_like_any_key(tmp_path: Path) -> None:
    """address in the file, host in the environment: the environment wins, as always."""
    result = loaded(tmp_path, '[server]\naddress = "0.0.0.0"\n', WESS_SERVER_HOST="127.0.0.2")
    assert result.settings.server.host == "127.0.0.2"
    assert result.sources["server.host"] == "environment WESS_SERVER_HOST"
    by_env = load_settings(env={"WESS_SERVER_ADDRESS": "127.0.0.3"})
    assert by_env.settings.server.host == "127.0.0.3"
    assert by_env.sources["server.host"] == "environment WESS_SERVER_ADDRESS"


@pytest.mark.parametrize("db", ["postgres", "sled", ""])
def test_db_names_only_rocksdb(tmp_path: Path, db: str) -> None:
    """Any other engine is refused with a sentence naming the one Wess has."""
    with pytest.raises(ConfigError) as caught:
        loaded(tmp_path, f'[database]\ndb = "{db}"\n')
    assert "database.db" in str(caught.value)
    assert 'it stores modules in RocksDB, "rocksdb"' in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[database]\ndb = "rocksdb"\nurl = "memory://"\n', "disagrees with url"),
        ('[database]\nmax_open_files = 100\nurl = "memory://"\n', "applies to RocksDB"),
        ("[database]\nmax_open_files = 5\n", ">= 20"),
    ],
)
def test_database_keys_that_cannot_hold_together(tmp_path: Path, text: str, expected: str) -> None:
    """db and max_open_files must agree with the storage URL; RocksDB needs >= 20 files."""
    with pytest.raises(ConfigError, match=expected):
        loaded(tmp_path, text)


def test_unknown_keys_stay_errors(tmp_path: Path) -> None:
    """Accepting the original keys does not open the door to others."""
    with pytest.raises(ConfigError, match=r"server\.colour") as caught:
        loaded(tmp_path, '[server]\ncolour = "red"\n')
    assert "address" in str(caught.value)
    with pytest.raises(ConfigError, match=r"reader\.size"):
        loaded(tmp_path, "[reader]\nsize = 1\n")
