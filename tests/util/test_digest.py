"""util/digest: a digest is checked once when made, and knows its parts and cosign's tags."""

from __future__ import annotations

import hashlib
import json

import pytest

from hardbase.errors import ImageError
from hardbase.util.digest import Digest, DigestError, is_digest, optional_digest

HEX = hashlib.sha256(b"hardbase").hexdigest()
TEXT = f"sha256:{HEX}"


def test_a_digest_is_its_text_with_its_parts() -> None:
    digest = Digest(TEXT)
    assert digest == TEXT and str(digest) == TEXT
    assert digest.algorithm == "sha256"
    assert digest.hex == HEX
    assert digest.short == HEX[:12]
    assert Digest.of(b"hardbase") == digest
    assert Digest.from_hex(HEX) == digest
    assert Digest(digest) is digest  # checked once
    assert repr(digest) == f"Digest('{TEXT}')"
    # the wire form does not change: JSON and dict keys see the same text
    assert json.dumps({"digest": digest}) == json.dumps({"digest": TEXT})
    assert {TEXT: 1}[digest] == 1


def test_cosign_and_referrers_tags() -> None:
    digest = Digest(TEXT)
    assert digest.cosign_tag("sig") == f"sha256-{HEX}.sig"
    assert digest.cosign_tag("att") == f"sha256-{HEX}.att"
    assert digest.cosign_tag("sbom") == f"sha256-{HEX}.sbom"
    assert digest.referrers_tag == f"sha256-{HEX}"
    assert Digest.from_cosign_tag(f"sha256-{HEX}.sig") == (digest, "sig")
    assert Digest.from_cosign_tag(f"sha256-{HEX}") == (digest, "")
    for other in ("latest", "sha256-abc.sig", f"sha512-{HEX}.sig", f"sha256-{HEX.upper()}.att"):
        assert Digest.from_cosign_tag(other) is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        HEX,  # no algorithm
        f"sha256:{HEX[:-1]}",  # too short
        f"sha256:{HEX}0",  # too long
        f"sha256:{HEX.upper()}",  # OCI digests are lowercase
        f"sha512:{HEX}",  # not an algorithm hardbase reads
        f"sha256:../../{HEX[:58]}",  # a path trick
        f"SHA256:{HEX}",
        f" sha256:{HEX}",
        f"sha256:{HEX}\n",
    ],
)
def test_a_bad_digest_is_one_sentence(bad: str) -> None:
    with pytest.raises(DigestError) as caught:
        Digest(bad, "in the test input")
    message = caught.value.diagnostics()
    assert message == (
        f"{bad!r} in the test input is not a sha256 digest (sha256: followed by 64 lowercase "
        "hex digits)"
    )
    assert isinstance(caught.value, ImageError)  # exit 2, like any malformed image input


def test_a_non_string_or_a_huge_string_is_refused_briefly() -> None:
    with pytest.raises(DigestError, match="is not a sha256 digest"):
        Digest(None)  # type: ignore[arg-type]
    with pytest.raises(DigestError) as caught:
        Digest("x" * 10_000)
    assert len(str(caught.value)) < 200


def test_optional_digest() -> None:
    assert optional_digest("") is None
    assert optional_digest(None) is None
    assert optional_digest(TEXT) == Digest(TEXT)
    with pytest.raises(DigestError):
        optional_digest("sha256:nope")


def test_is_digest() -> None:
    assert is_digest(TEXT)
    assert not is_digest(TEXT.upper()) and not is_digest(None) and not is_digest(HEX)


def test_a_digest_survives_pickle_and_json_as_celery_sends_it() -> None:
    import pickle

    digest = Digest(TEXT)
    again = pickle.loads(pickle.dumps(digest))
    assert type(again) is Digest and again == digest
    assert json.loads(json.dumps([digest])) == [TEXT]
