"""The browser view's app in-process (Starlette's TestClient): settings, errors, tokens, stats."""

from __future__ import annotations

import json
import logging
import warnings
from typing import Any

import cv2
import numpy as np
import pytest

from livethresh.binarize import available_methods, method_class
from livethresh.config import ThresholdConfig, load_preset, resolve
from livethresh.errors import ConfigError
from livethresh.serve.app import MAX_BODY_BYTES, create_app
from livethresh.serve.broadcaster import Broadcaster
from livethresh.serve.connections import (
    MAX_CONNECTIONS,
    MIN_CONNECTIONS,
    RepeatFilter,
    connection_cap,
)
from livethresh.serve.security import is_loopback, required_token
from livethresh.serve.session import server_url
from livethresh.stats import Stats

with warnings.catch_warnings():
    # Starlette 1.x suggests httpx2 for its TestClient; httpx still works, and is installed.
    warnings.filterwarnings("ignore", "Using `httpx`", Warning)
    from starlette.testclient import TestClient

TOKEN = "s3cret-token"
LOCAL = "http://127.0.0.1:8000"


class FakeControls:
    def __init__(self) -> None:
        self.config = ThresholdConfig()
        self.applied: list[ThresholdConfig] = []
        self.run_stats = Stats()

    def stats(self) -> dict[str, Any]:
        return self.run_stats.to_dict()

    async def apply(self, config: ThresholdConfig) -> None:
        self.config = config
        self.applied.append(config)


@pytest.fixture
def controls() -> FakeControls:
    return FakeControls()


@pytest.fixture
def broadcaster() -> Broadcaster:
    return Broadcaster()


@pytest.fixture
def client(controls: FakeControls, broadcaster: Broadcaster) -> Any:
    with TestClient(create_app(controls, broadcaster), base_url=LOCAL) as c:
        yield c


def test_settings_get_and_patch(client: TestClient, controls: FakeControls) -> None:
    assert client.get("/api/settings").json() == ThresholdConfig().to_dict()
    answer = client.patch("/api/settings", json={"method": "sauvola", "block_size": 25, "k": 0.2})
    assert answer.status_code == 200
    expected = ThresholdConfig(method="sauvola", block_size=25, k=0.2)
    assert answer.json() == expected.to_dict()
    assert controls.applied == [expected]
    # null unsets an optional setting (the method's own default again)
    assert client.patch("/api/settings", json={"k": None}).json()["k"] is None


@pytest.mark.parametrize(
    ("changes", "setting"),
    [
        ({"block_size": 4}, "block_size"),
        ({"method": "nope"}, "method"),
        ({"threshold": 300}, "threshold"),
        ({"blur": True}, "blur"),
        ({"method": "mean", "c": "two"}, "c"),
        ({"colour": 3}, "colour"),
    ],
)
def test_invalid_value_is_422_worded_as_the_cli_and_changes_nothing(
    client: TestClient, controls: FakeControls, changes: dict[str, Any], setting: str
) -> None:
    answer = client.patch("/api/settings", json=changes)
    assert answer.status_code == 422
    message = answer.json()["error"]
    assert repr(setting) in message or f"invalid {setting} " in message
    with pytest.raises(ConfigError) as raised:
        resolve(overrides=changes)  # what the command line and the presets go through
    assert message == str(raised.value)
    assert controls.applied == []
    assert client.get("/api/settings").json() == ThresholdConfig().to_dict()


@pytest.mark.parametrize("body", [b'{"block_size": ', b"[1, 2]", b"\xff\xfe", b"NaN-ish"])
def test_broken_json_is_400(client: TestClient, controls: FakeControls, body: bytes) -> None:
    answer = client.patch("/api/settings", content=body)
    assert answer.status_code == 400
    assert "error" in answer.json()
    assert controls.applied == []


def test_json_nested_too_deeply_is_400(client: TestClient, controls: FakeControls) -> None:
    for body in (b"[" * 3000 + b"]" * 3000, b'{"method": ' + b"[" * 3000 + b"]" * 3000 + b"}"):
        answer = client.patch("/api/settings", content=body)
        assert answer.status_code == 400
        assert answer.json() == {
            "error": "the body is not valid settings: its JSON is nested too deeply"
        }
    assert controls.applied == []


@pytest.mark.parametrize(
    "changes", [{"despeckle": "\u00b2"}, {"despeckle": "\u00b2\u00b3"}, {"method": [[[[]]]] * 99}]
)
def test_a_value_that_breaks_validation_is_refused_not_a_server_error(
    client: TestClient, controls: FakeControls, changes: dict[str, Any]
) -> None:
    answer = client.patch("/api/settings", json=changes)
    assert answer.status_code == 422
    [name] = changes
    assert answer.json()["error"].startswith(f"invalid {name} ")
    assert controls.applied == []


def test_body_size_limit(client: TestClient, controls: FakeControls) -> None:
    big = json.dumps({"method": "mean", "pad": "x" * MAX_BODY_BYTES}).encode()
    assert client.patch("/api/settings", content=big).status_code == 413
    assert controls.applied == []


def test_stats_has_the_keys_of_bench_json(client: TestClient) -> None:
    assert set(client.get("/api/stats").json()) == set(Stats().to_dict())


def test_methods_tell_which_settings_each_uses(client: TestClient) -> None:
    table = client.get("/api/methods").json()
    assert [m["name"] for m in table["methods"]] == available_methods()
    for method in table["methods"]:
        assert method["settings"] == list(method_class(method["name"]).settings)
    by_name = {c["name"]: c for c in table["controls"]}
    assert list(by_name) == list(ThresholdConfig().to_dict())
    assert by_name["method"]["choices"] == available_methods()
    assert by_name["invert"]["kind"] == "bool" and by_name["block_size"]["kind"] == "int"
    assert by_name["k"]["optional"] and not by_name["c"]["optional"]


def test_an_unknown_setting_reads_as_on_the_command_line(client: TestClient) -> None:
    with pytest.raises(ConfigError) as raised:
        resolve(overrides={"colour": 3})
    assert client.patch("/api/settings", json={"colour": 3}).json()["error"] == str(raised.value)


def test_snapshot_is_the_mask_at_full_size(client: TestClient, broadcaster: Broadcaster) -> None:
    assert client.get("/snapshot.png").status_code == 503
    mask = (np.arange(48 * 64).reshape(48, 64) % 2 * 255).astype(np.uint8)
    gray = np.full((48, 64), 7, np.uint8)
    broadcaster.publish(mask, gray, 3)
    answer = client.get("/snapshot.png")
    assert answer.status_code == 200 and answer.headers["content-type"] == "image/png"
    decoded = cv2.imdecode(np.frombuffer(answer.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert np.array_equal(decoded, mask)
    side = cv2.imdecode(
        np.frombuffer(client.get("/snapshot.png?view=side").content, np.uint8), cv2.IMREAD_UNCHANGED
    )
    assert np.array_equal(side, np.hstack([gray, mask]))


def test_preset_download_loads_back(client: TestClient, tmp_path: Any) -> None:
    client.patch("/api/settings", json={"method": "wolf", "block_size": 31, "k": 0.3})
    answer = client.get("/preset.toml")
    assert "attachment" in answer.headers["content-disposition"]
    path = tmp_path / "tuned.toml"
    path.write_bytes(answer.content)
    assert load_preset(str(path)) == ThresholdConfig(method="wolf", block_size=31, k=0.3)


def test_page_and_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "static/app.js" in page.text
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # nothing from another site


PATHS = [
    "/",
    "/stream.mjpg",
    "/snapshot.png",
    "/api/settings",
    "/api/stats",
    "/api/methods",
    "/api/events",
    "/preset.toml",
    "/static/app.js",
    "/nowhere",
]


@pytest.mark.parametrize("path", PATHS)
def test_token_guards_every_path(
    controls: FakeControls, broadcaster: Broadcaster, path: str
) -> None:
    with TestClient(create_app(controls, broadcaster, token=TOKEN)) as c:
        assert c.get(path).status_code == 401
        assert c.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get(path, params={"token": TOKEN[:-1]}).status_code == 401
        if path not in ("/stream.mjpg", "/api/events"):  # endless: checked on a live server
            assert c.get(path, headers={"Authorization": f"Bearer {TOKEN}"}).status_code != 401
            assert c.get(path, params={"token": TOKEN}).status_code != 401


def test_token_guards_changes(controls: FakeControls, broadcaster: Broadcaster) -> None:
    with TestClient(create_app(controls, broadcaster, token=TOKEN)) as c:
        assert c.patch("/api/settings", json={"block_size": 5}).status_code == 401
        assert controls.applied == []
        ok = c.patch(
            "/api/settings", json={"block_size": 5}, headers={"Authorization": f"Bearer {TOKEN}"}
        )
        assert ok.status_code == 200 and controls.config.block_size == 5
        page = c.get("/", params={"token": TOKEN}).text
        assert f"static/app.js?token={TOKEN}" in page


def test_a_network_facing_host_always_gets_a_token() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert not is_loopback("camera-box.local")
    assert required_token("127.0.0.1", None) is None
    assert required_token("127.0.0.1", "mine") == "mine"
    assert required_token("0.0.0.0", "mine") == "mine"
    generated = {required_token("0.0.0.0", None) for _ in range(3)}
    assert len(generated) == 3 and all(t and len(t) >= 24 for t in generated)
    for bad in ("", "has space", "ünïcode"):
        with pytest.raises(ConfigError):
            required_token("127.0.0.1", bad)


def test_the_printed_url_carries_the_token() -> None:
    assert server_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/"
    assert server_url("::1", 8000, "abc") == "http://[::1]:8000/?token=abc"
    assert server_url("0.0.0.0", 80, "abc").endswith(":80/?token=abc")
    assert (
        server_url("127.0.0.1", 80, "a+b#c&d%e") == "http://127.0.0.1:80/?token=a%2Bb%23c%26d%25e"
    )


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "127.0.0.1"])
def test_without_a_token_only_this_machines_names_are_answered(
    client: TestClient, host: str
) -> None:
    assert client.get("/api/settings", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example:8000", "192.168.1.9:8000", "localhost.evil.example"]
)
def test_a_foreign_host_name_is_refused_so_dns_rebinding_cannot_reach_it(
    client: TestClient, controls: FakeControls, host: str
) -> None:
    headers = {"Host": host}
    assert client.get("/api/settings", headers=headers).status_code == 400
    assert client.patch("/api/settings", json={"block_size": 5}, headers=headers).status_code == 400
    assert client.get("/snapshot.png", headers=headers).status_code == 400
    assert controls.applied == []


def test_with_a_token_any_host_name_is_answered(
    controls: FakeControls, broadcaster: Broadcaster
) -> None:
    with TestClient(create_app(controls, broadcaster, token=TOKEN)) as c:
        headers = {"Host": "camera-box.local:8000", "Authorization": f"Bearer {TOKEN}"}
        assert c.get("/api/settings", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/static/%2e%2e/session.py", "/static/..%2fsession.py", "/static/%2e%2e%2f%2e%2e%2fconfig.py"],
)
def test_encoded_dots_and_slashes_reach_no_file_outside_the_assets(
    client: TestClient, path: str
) -> None:
    # The live server's test sends these (and plain ..) unnormalised, as a raw request line.
    answer = client.get(path)
    assert answer.status_code == 404 and b"import" not in answer.content
    assert client.get("/static/app.js").status_code == 200


@pytest.mark.parametrize(
    ("soft", "cap"), [(20000, MAX_CONNECTIONS), (256, 64), (100, MIN_CONNECTIONS)]
)
def test_the_connection_cap_fits_the_descriptor_limit(
    monkeypatch: pytest.MonkeyPatch, soft: int, cap: int
) -> None:
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda kind: (soft, soft))
    assert connection_cap() == cap


def test_a_repeated_log_line_passes_once_per_interval() -> None:
    repeats = RepeatFilter(interval=60)

    def record(message: str) -> logging.LogRecord:
        return logging.LogRecord("asyncio", logging.ERROR, __file__, 1, message, None, None)

    passed = [repeats.filter(record("socket.accept() out of system resource")) for _ in range(500)]
    assert passed.count(True) == 1
    assert repeats.filter(record("another line"))
