"""Bad input to the InfluxDB flags and `twin influx-flush` exits 2 with a message naming what is wrong, before any
server is asked (no server runs in these tests: each case is refused first)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.cli import main

RUN = ["run", "scenarios/pilot-1h.toml", "--duration-s", "60", "--no-progress"]
TARGET = ["--influx-org", "site", "--influx-bucket", "twin"]


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("ftp://x", "not an http(s) URL"),
        ("http://[::1", "is not a URL"),
        ("http://127.0.0.1:99999", "is not a URL"),
        ("http://user:secret@127.0.0.1:8086", "no user or password in the URL"),
    ],
)
def test_a_bad_url_is_refused(url: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run([*RUN, "--out", str(tmp_path), "--influx-url", url, *TARGET], capsys)
    assert code == 2 and needle in err, err
    assert "secret" not in err


def test_token_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INFLUX_TOKEN", raising=False)
    base = [*RUN, "--out", str(tmp_path / "o"), "--influx-url", "http://127.0.0.1:8086", *TARGET]
    code, err = run([*base, "--influx-token-file", str(tmp_path / "none")], capsys)
    assert code == 2 and "cannot read" in err
    (tmp_path / "empty").write_text("\n")
    code, err = run([*base, "--influx-token-file", str(tmp_path / "empty")], capsys)
    assert code == 2 and "is empty" in err
    (tmp_path / "bin").write_bytes(b"\xff\xfe\x00tok")
    code, err = run([*base, "--influx-token-file", str(tmp_path / "bin")], capsys)
    assert code == 2 and "is not text" in err
    code, err = run(base, capsys)
    assert code == 2 and "INFLUX_TOKEN" in err
    code, err = run([*base, "--influx-spool-mb", "0"], capsys)
    assert code == 2 and "--influx-spool-mb" in err


@pytest.mark.parametrize(
    "content",
    ["[1]", "{}", '{"tags": {"site": "s", "scenario": "c", "run": "r"}}', '{"tags": {"site": 1}, "start_ms": 0}', "{"],
)
def test_a_broken_influx_json_is_refused(content: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "influx.json").write_text(content)
    code, err = run(["influx-flush", str(tmp_path)], capsys)
    assert code == 2 and str(tmp_path / "influx.json") in err, err


def test_influx_flush_needs_a_results_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(["influx-flush", str(tmp_path / "nope")], capsys)
    assert code == 2 and "no such results folder" in err
    code, err = run(["influx-flush", str(tmp_path)], capsys)
    assert code == 2 and "did not stream to InfluxDB" in err
    (tmp_path / "influx.json").write_text(
        json.dumps({"tags": {"site": "s", "scenario": "c", "run": "r"}, "start_ms": 0})
    )
    code, err = run(["influx-flush", str(tmp_path), "--timeout-s", "-1"], capsys)
    assert code == 2 and "--timeout-s" in err
