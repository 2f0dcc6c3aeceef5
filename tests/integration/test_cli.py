"""The cunxiang command as an operator runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cunxiang.cli import main
from tests.conftest import require


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_bad_arguments_exit_non_zero_with_one_line(tmp_path: Path) -> None:
    for argv in (["schedule", "add", "--notice", "x", "--villages", "a"], ["nonsense"], []):
        proc = subprocess.run(
            [sys.executable, "-m", "cunxiang.cli", "--data-dir", str(tmp_path), *argv],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert proc.stderr.startswith("cunxiang") and "error:" in proc.stderr


def test_operator_session(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require("espeak-ng")
    require("ffmpeg")
    d = ["--data-dir", str(tmp_path / "data")]

    code, out, _ = run(capsys, *d, "init", "--admin", "zhang")
    assert code == 0
    assert "admin account: zhang  password: " in out
    code, out, _ = run(capsys, *d, "init")
    assert code == 0 and "none created" in out

    assert run(capsys, *d, "village", "add", "上溪村", "--code", "330782101201")[0] == 0
    code, _, err = run(capsys, *d, "village", "add", "上溪村", "--code", "330782101201")
    assert code == 2 and "已存在" in err

    code, out, _ = run(capsys, *d, "speaker", "add", "shangxi-01", "--village", "上溪村")
    assert code == 0
    prov_file = tmp_path / "data" / "speakers" / "shangxi-01.json"
    prov = json.loads(prov_file.read_text(encoding="utf-8"))
    assert prov["speaker_id"] == "shangxi-01" and prov["server_keys"]
    assert prov_file.stat().st_mode & 0o777 == 0o600
    code, _, err = run(capsys, *d, "speaker", "add", "Bad Id", "--village", "上溪村")
    assert code == 2 and err.count("\n") == 1

    code, out, _ = run(capsys, *d, "notice", "add", "--title", "通知", "明天开会。")
    assert code == 0 and out.startswith("notice 1:")
    code, out, _ = run(
        capsys, *d, "schedule", "add", "--notice", "1", "--villages", "上溪村", "--daily", "07:30"
    )
    assert code == 0 and "07:30:00+08:00" in out
    code, _, err = run(
        capsys, *d, "schedule", "add", "--notice", "1", "--villages", "上溪村", "--daily", "7:3"
    )
    assert code == 2 and "时:分" in err

    mp3 = tmp_path / "hello.mp3"
    code, out, _ = run(capsys, *d, "speak", "各位村民好。", "-o", str(mp3))
    assert code == 0 and mp3.read_bytes()[:2] in (b"ID", b"\xff\xfb", b"\xff\xf3")

    code, out, _ = run(capsys, *d, "log")
    assert code == 0 and out.splitlines()[0].startswith("broadcast\tplanned")
    code, out, _ = run(capsys, *d, "check-config")
    assert code == 0


def test_unknown_setting_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.toml"
    config.write_text("[web]\nprot = 1\n", encoding="utf-8")
    code, _, err = run(capsys, "--config", str(config), "check-config")
    assert code == 2 and "web.prot" in err
