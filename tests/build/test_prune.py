"""Pruning rules: what goes, what always stays."""

from __future__ import annotations

from hardbase.build.prune import Pruner
from hardbase.build.spec import PruneSettings, _settings
from hardbase.build.spec_schema import PruneModel, SpecModel


def prune(data: dict[str, object]) -> PruneSettings:
    """Validate a `prune:` section as a spec would."""
    PruneModel.model_validate(data)
    return _settings(SpecModel.model_validate({"name": "x", "prune": data})).prune


def test_default_rules() -> None:
    p = Pruner(PruneSettings())
    assert p.cuts("usr/share/doc/libc6/changelog.Debian.gz")
    assert not p.cuts("usr/share/doc/libc6/copyright")
    assert p.cuts("usr/share/man/man1/python3.1.gz")
    assert p.cuts("usr/share/locale/de/LC_MESSAGES/libc.mo")
    assert p.cuts("usr/lib/x86_64-linux-gnu/gconv/IBM1047.so")
    assert p.cuts("usr/lib/python3.13/test/test_ssl.py")
    assert p.cuts("usr/lib/python3.13/idlelib/idle.py")
    assert not p.cuts("usr/lib/python3.13/ssl.py")
    assert not p.cuts("usr/lib/python3.13/zoneinfo/_common.py")
    assert not p.cuts("usr/share/zoneinfo/Europe/Berlin")
    assert not p.cuts("usr/lib/x86_64-linux-gnu/libc.so.6")


def test_doc_symlink_kept_for_copyright() -> None:
    p = Pruner(PruneSettings())
    assert not p.cuts("usr/share/doc/libpython3.13-stdlib", symlink=True)
    assert p.cuts("usr/share/doc/libpython3.13-stdlib/README", symlink=True)


def test_rules_switch_off_and_extra_paths() -> None:
    p = Pruner(
        prune({"docs": False, "paths": ["/usr/bin/xyz"], "keep": ["usr/share/man/man1/keep.1.gz"]})
    )
    assert not p.cuts("usr/share/doc/libc6/changelog.Debian.gz")
    assert p.cuts("usr/bin/xyz")
    assert not p.cuts("usr/share/man/man1/keep.1.gz")
    assert p.cuts("usr/share/man/man1/other.1.gz")


def test_nothing_cut_when_all_off() -> None:
    off = {
        k: False
        for k in (
            "docs",
            "man",
            "locales",
            "lintian",
            "headers",
            "static-libs",
            "gconv",
            "python-extras",
            "tools",
        )
    }
    p = Pruner(prune(off))
    assert not p.cuts("usr/share/doc/x/README")
