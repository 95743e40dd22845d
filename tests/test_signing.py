"""Signed sign-off: Ed25519 detached signature, in-toto statement in a DSSE envelope, an exit code per change."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pipeline._cli import main
from pipeline.model import Status
from pipeline.signing import PAYLOAD_TYPE, key_id
from tests.conftest import MANDATORY, stamp_results, write_config, write_results


def key_files(folder: Path, name: str) -> tuple[Path, Path, Ed25519PrivateKey]:
    """A fresh Ed25519 key pair as PEM files."""
    key = Ed25519PrivateKey.generate()
    private, public = folder / f"{name}.pem", folder / f"{name}.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public, key


@pytest.fixture
def signed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A ready verdict signed with a key file; returns the record and the trusted public key."""
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "reports"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    (reports / "evidence").mkdir()
    (reports / "evidence" / "k6-summary.json").write_text("{}")
    config = write_config(tmp_path, "version: 1\nchecks: {}\n")
    stamp_results(reports, config)
    assert main(["verdict", "--reports-dir", str(reports), "--config", str(config)]) == 0
    private, public, _ = key_files(tmp_path, "release")
    assert main(["signoff", "--release", "2.0", "--approver", "Rita", "--reports-dir", str(reports),
                 "--config", str(config), "--signing-key", str(private)]) == 0
    return reports / "signoff-2.0.json", public


def ready_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ready verdict without a config, in ``tmp_path/reports``."""
    monkeypatch.chdir(tmp_path)
    reports = tmp_path / "reports"
    write_results(reports, {n: Status.PASS for n in MANDATORY})
    assert main(["verdict", "--reports-dir", str(reports)]) == 0
    return reports


def verify(record: Path, *keys: Path) -> int:
    return main(["verify-signoff", str(record), *(a for k in keys for a in ("--public-key", str(k)))])


def test_a_signed_record_verifies_with_the_trusted_key_and_the_html_shows_who_signed(
        signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    record_path, public = signed
    capsys.readouterr()
    assert verify(record_path, public) == 0
    assert "signed by key" in capsys.readouterr().out
    record = json.loads(record_path.read_text())
    assert record["approver"] == "Rita" and record["policy"]["rules"]["coverage.min_line_rate"]["value"] == 0.9
    assert "evidence/k6-summary.json" in record["files"]
    page = (record_path.parent / "readiness.html").read_text()
    assert 'data-state="signed"' in page and "Rita" in page and record["signature"]["keyid"] in page


def test_the_dsse_envelope_verifies_by_its_spec_alone(signed: tuple[Path, Path]) -> None:
    """Checked here without the gate's code: PAE as the DSSE spec defines it, the statement as in-toto does."""
    record_path, public = signed
    envelope = json.loads((record_path.parent / "signoff-2.0.intoto.json").read_text())
    payload = base64.b64decode(envelope["payload"])
    pae = b"DSSEv1 %d %s %d %s" % (len(PAYLOAD_TYPE), PAYLOAD_TYPE.encode(), len(payload), payload)
    loaded = serialization.load_pem_public_key(public.read_bytes())
    assert isinstance(loaded, type(Ed25519PrivateKey.generate().public_key()))
    loaded.verify(base64.b64decode(envelope["signatures"][0]["sig"]), pae)  # raises if it does not verify
    statement = json.loads(payload)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    subjects = {s["name"]: s["digest"]["sha256"] for s in statement["subject"]}
    assert subjects["readiness.json"] == json.loads(record_path.read_text())["files"]["readiness.json"]
    assert "signoff-2.0.json" in subjects and statement["predicate"]["approver"] == "Rita"


@pytest.mark.parametrize(("change", "code", "line"), [
    (lambda r: (r / "readiness.md").write_text("# all good"), 4, "changed: readiness.md"),
    (lambda r: (r / "results" / "k6.json").write_text("{}"), 5, "changed: results/k6.json"),
    (lambda r: (r / "evidence" / "k6-summary.json").write_text("[]"), 6, "changed: evidence/k6-summary.json"),
    (lambda r: (r / "evidence" / "extra.log").write_text("x"), 7, "added:   evidence/extra.log"),
])
def test_each_kind_of_change_has_its_own_message_and_exit_code(
        signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str], change: object, code: int, line: str) -> None:
    record_path, public = signed
    change(record_path.parent)  # type: ignore[operator]
    capsys.readouterr()
    assert verify(record_path, public) == code
    assert line in capsys.readouterr().out


def test_a_bad_signature_is_exit_8(tmp_path: Path, signed: tuple[Path, Path],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    record_path, public = signed
    _, _, other = key_files(tmp_path, "other")
    forged = base64.b64encode(other.sign(record_path.read_bytes())).decode()
    record_path.with_name("signoff-2.0.json.sig").write_text(forged)
    capsys.readouterr()
    assert verify(record_path, public) == 8
    assert "bad signature: signoff-2.0.json.sig does not verify" in capsys.readouterr().out


def test_a_signature_by_an_unknown_key_is_exit_9(tmp_path: Path, signed: tuple[Path, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    record_path, _ = signed
    _, stranger, _ = key_files(tmp_path, "stranger")
    capsys.readouterr()
    assert verify(record_path, stranger) == 9
    assert "it is not among the trusted keys" in capsys.readouterr().out
    assert verify(record_path) == 9  # no trusted key at all: the signature proves nothing about who


def test_an_unsigned_record_fails_when_a_signature_is_expected(
        tmp_path: Path, signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    record_path, public = signed
    reports = record_path.parent
    assert main(["signoff", "--release", "2.1", "--approver", "Rita", "--reports-dir", str(reports)]) == 0
    assert verify(reports / "signoff-2.1.json") == 0  # digests only, nobody asked for a key
    assert verify(reports / "signoff-2.1.json", public) == 8


def test_the_key_from_the_environment_signs_and_never_shows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    reports = ready_reports(tmp_path, monkeypatch)
    key = Ed25519PrivateKey.generate()
    seed = base64.b64encode(key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                                              serialization.NoEncryption())).decode()
    monkeypatch.setenv("READINESS_SIGNING_KEY", seed)
    assert main(["signoff", "--release", "3", "--approver", "Ann", "--reports-dir", str(reports)]) == 0
    record = json.loads((reports / "signoff-3.json").read_text())
    assert record["signature"]["keyid"] == key_id(key.public_key())
    out, err = capfd.readouterr()
    assert seed not in out + err
    assert not any(seed in p.read_text(errors="replace") for p in reports.rglob("*") if p.is_file())


def test_an_unreadable_key_is_a_usage_error_naming_the_file_and_nothing_is_signed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    reports = ready_reports(tmp_path, monkeypatch)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key at all")
    assert main(["signoff", "--release", "4", "--approver", "x", "--reports-dir", str(reports),
                 "--signing-key", str(bad)]) == 3
    assert f"{bad}: not an Ed25519 private key" in capsys.readouterr().err
    assert not list(reports.glob("signoff-*"))
    assert "not a key at all" not in (reports / "readiness.html").read_text()


def test_a_file_that_only_looks_like_a_record_is_still_covered(
        signed: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    record_path, public = signed
    (record_path.parent / "signoff-notes.txt").write_text("slipped in")
    assert verify(record_path, public) == 7
