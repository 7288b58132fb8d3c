"""cosign's encrypted private key format, read and written by hardbase (no cosign needed here).

test_cosign_peer.py checks the same files against real cosign; these are the hostile and
edge cases: each is one sentence naming the file, and nothing is signed.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hardbase.attest import cosignkey
from hardbase.attest.keys import KeyFileError, load_private_key, password_from_env, write_keypair
from registry_fixture import make_image
from signing import hardbase


def body(path: Path) -> dict[str, object]:
    lines = path.read_text().strip().splitlines()
    doc: dict[str, object] = json.loads(base64.b64decode("".join(lines[1:-1])))
    return doc


def rewrite(path: Path, doc: dict[str, object], kind: str = cosignkey.PEM_TYPE) -> None:
    text = base64.b64encode(json.dumps(doc).encode()).decode()
    path.write_text(f"-----BEGIN {kind}-----\n{text}\n-----END {kind}-----\n")


def test_written_keys_have_cosigns_fields_and_load_back(tmp_path: Path) -> None:
    key, pub = write_keypair(tmp_path / "k", "pw")
    doc = body(key)
    assert doc["kdf"] == {"name": "scrypt", "params": {"N": 65536, "r": 8, "p": 1},
                          "salt": doc["kdf"]["salt"]}  # type: ignore[index]  # fmt: skip
    assert doc["cipher"]["name"] == "nacl/secretbox"  # type: ignore[index]
    loaded = load_private_key(key, "pw")
    from hardbase.attest.keys import public_pem

    assert public_pem(loaded.public_key()) == pub.read_bytes()
    # the older header cosign wrote is read too
    older = tmp_path / "older.key"
    rewrite(older, doc, "ENCRYPTED COSIGN PRIVATE KEY")
    assert public_pem(load_private_key(older, "pw").public_key()) == pub.read_bytes()


def test_no_password_keys_are_sealed_with_the_empty_password(tmp_path: Path) -> None:
    key, _ = write_keypair(tmp_path / "k", "", unencrypted=True)
    assert key.read_text().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----")
    load_private_key(key, "")
    with pytest.raises(KeyFileError, match="password is wrong"):
        load_private_key(key, "not-empty")


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda d: d["kdf"]["params"].update(N=1 << 30), "out of range"),
        (lambda d: d["kdf"]["params"].update(N=1000), "out of range"),
        (lambda d: d["kdf"]["params"].update(r=10**6), "out of range"),
        (lambda d: d["kdf"]["params"].update(p="1"), "not integers"),
        (lambda d: d["kdf"].update(name="pbkdf2"), "not scrypt/nacl/secretbox"),
        (lambda d: d["cipher"].update(nonce="AAAA"), "wrong size"),
        (lambda d: d.update(ciphertext="%%%"), "not base64"),
        (lambda d: d.pop("cipher"), "lacks the kdf, cipher or ciphertext"),
    ],
)
def test_hostile_key_files_are_refused_before_scrypt_runs(
    tmp_path: Path, change: object, reason: str
) -> None:
    key, _ = write_keypair(tmp_path / "k", "pw")
    doc = body(key)
    change(doc)  # type: ignore[operator]
    rewrite(key, doc)
    with pytest.raises(KeyFileError, match=reason) as caught:
        load_private_key(key, "pw")
    assert str(key) in caught.value.diagnostics()


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda t: t[: len(t) // 2], "is truncated"),
        (lambda t: t.replace("eyJ", "e!J", 1), "not base64"),
        (lambda t: t.splitlines()[0] + "\nbm90IGpzb24=\n" + t.splitlines()[-1], "JSON"),
    ],
)
def test_damaged_cosign_keys_exit_2_with_one_sentence(
    tmp_path: Path, damage: object, reason: str
) -> None:
    key, _ = write_keypair(tmp_path / "k", "pw")
    key.write_text(damage(key.read_text()))  # type: ignore[operator]
    make_image(tmp_path / "img", "t", [{"a": b"a"}])
    before = (tmp_path / "img" / "index.json").read_bytes()
    result = hardbase("sign", f"oci:{tmp_path / 'img'}:t", "--key", str(key),
                      HARDBASE_KEY_PASSWORD="pw")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert reason in result.stderr and str(key) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert (tmp_path / "img" / "index.json").read_bytes() == before


def test_a_truncated_pkcs8_key_is_one_sentence(tmp_path: Path) -> None:
    key, _ = write_keypair(tmp_path / "k", "pw", key_format="pkcs8")
    key.write_text(key.read_text()[:200])
    make_image(tmp_path / "img", "t", [{"a": b"a"}])
    result = hardbase("sign", f"oci:{tmp_path / 'img'}:t", "--key", str(key),
                      HARDBASE_KEY_PASSWORD="pw")  # fmt: skip
    assert result.returncode == 2
    assert "the file is truncated" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_password_env_prefers_hardbase_then_cosign(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARDBASE_KEY_PASSWORD", raising=False)
    monkeypatch.setenv("COSIGN_PASSWORD", "c")
    assert password_from_env() == b"c"
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", "")
    assert password_from_env() == b"c"  # empty counts as unset
    monkeypatch.setenv("HARDBASE_KEY_PASSWORD", "h")
    assert password_from_env() == b"h"
    monkeypatch.delenv("COSIGN_PASSWORD")
    monkeypatch.delenv("HARDBASE_KEY_PASSWORD")
    assert password_from_env() == b""
