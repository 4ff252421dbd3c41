"""The systemd unit, read and checked against the code: `wess serve` as its own user,
its state directory where Wess keeps its data, real WESS_* settings, a stop timeout
longer than the drain."""

from __future__ import annotations

from pathlib import Path

UNIT = Path(__file__).resolve().parents[2] / "deploy" / "systemd" / "wess.service"


def directives() -> dict[str, list[tuple[str, str]]]:
    """Section -> (key, value) in order (a key such as Environment= may repeat)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = ""
    for line in UNIT.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
            continue
        key, _, value = line.partition("=")
        sections[current].append((key, value))
    return sections


def service(key: str) -> list[str]:
    return [value for name, value in directives()["Service"] if name == key]


def environment() -> dict[str, str]:
    return dict(entry.split("=", 1) for entry in service("Environment"))


def test_the_unit_runs_wess_serve_as_its_own_user(settings_from) -> None:
    """ExecStart is `wess serve`; User is not root; the environment holds only real
    settings with valid values; SIGTERM stops it within TimeoutStopSec; `systemctl
    reload` sends SIGHUP."""
    assert set(directives()) == {"Unit", "Service", "Install"}
    (command,) = service("ExecStart")
    program, *arguments = command.split()
    assert Path(program).name == "wess"
    assert arguments == ["serve"]
    assert service("User") == ["wess"]
    settings = settings_from(environment())
    assert service("KillSignal") == ["SIGTERM"]
    assert service("ExecReload") == ["/bin/kill -HUP $MAINPID"]  # a reload, never a stop
    (timeout,) = service("TimeoutStopSec")
    assert int(timeout) > settings.server.shutdown_timeout


def test_the_state_directory_is_where_wess_keeps_its_data(settings_from) -> None:
    """systemd creates /var/lib/<StateDirectory> for the user: WESS_DB_PATH names it."""
    (state,) = service("StateDirectory")
    assert settings_from(environment()).database.path == Path("/var/lib") / state
    assert service("ProtectSystem") == ["strict"]  # only the state directory is writable
