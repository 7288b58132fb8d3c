"""A tiny **fixture** source package that `hardbase patch build` really builds, and its patches.

Everything here is a fixture written for hardbase's tests, not Debian's or anyone's
software: the source package `fixture-clamp` (a C program that clamps a number to
[0, 100]), its uploads and its CVE ids (`CVE-2099-1001`, `CVE-2099-1002`: made-up
ids, no real advisory; tests/data/vuln/README.md reserves CVE-2099-* for fixtures).

- bookworm has `fixture-clamp 1.0-1`: its `clamp()` does not bound values above 100
  (the fixture "vulnerability", CVE-2099-1001);
- trixie has `1.0-2`, whose `debian/patches/10-CVE-2099-1001.patch` (DEP-3 headed)
  fixes it, so `hardbase patch find`'s newer-debian search finds it;
- `FIX` is the same patch as a user's file (a fleet's `patches:` directory);
- `BREAKS_TESTS` is a patch whose new test case fails, so the build fails in its test step;
- `add_debian_fix` adds bookworm-security's `1.0-1+deb12u1` with the fix, a Debian-style
  upload above the `+deb12u0+hb1` rebuild, which retires it.

It is a `3.0 (quilt)` source with a plain debian/rules (make, no debhelper), so its build
root is the Essential set, build-essential and fakeroot only. Its build runs the
package's own test (`tests/run`, each line of `tests/cases` an input and the expected
output) unless `nocheck` is set, which hardbase never sets.

    add_fixture_package(archive)            # sources in bookworm and trixie, binaries
    archive.publish("bookworm"); ...        # publish the suites (see SUITES)
    hardbase patch build fixture-clamp --release bookworm --cve CVE-2099-1001 \\
        --mirror URL --security-mirror URL --keyring FIXTURE --root-mirror {MIRROR}
"""

from __future__ import annotations

from archive_fixture import FixtureArchive, PublishedDeb

SOURCE = "fixture-clamp"
BINARY = "fixture-clamp"
VERSION = "1.0-1"  # bookworm's
NEWER_VERSION = "1.0-2"  # trixie's, with the fix in debian/patches
PATCHED_VERSION = "1.0-1+deb12u0+hb1"  # what `patch build --release bookworm` makes first
DEBIAN_FIX_VERSION = "1.0-1+deb12u1"  # Debian's own fix in bookworm-security (add_debian_fix)
CVE = "CVE-2099-1001"
PATCH_NAME = "10-CVE-2099-1001.patch"
# The suites the package's release and its newer releases are read from.
SUITES = ("bookworm", "bookworm-security", "bookworm-updates", "trixie", "trixie-security",
          "trixie-updates", "sid")  # fmt: skip

CLAMP_C = """\
/* fixture-clamp: a fixture program for hardbase's tests, not real software. */
#include <stdio.h>
#include <stdlib.h>

int clamp(int n)
{
\tif (n < 0)
\t\treturn 0;
\treturn n;
}

int main(int argc, char **argv)
{
\tif (argc != 2)
\t\treturn 2;
\tprintf("%d\\n", clamp(atoi(argv[1])));
\treturn 0;
}
"""

CASES = "5 5\n-3 0\n100 100\n"


def _add_case(line: str) -> str:
    """A diff adding `line` (an input and the expected output) to tests/cases."""
    context = "".join(f" {case}\n" for case in CASES.splitlines())
    return f"--- a/tests/cases\n+++ b/tests/cases\n@@ -1,3 +1,4 @@\n{context}+{line}\n"


RUN_TESTS = """\
#!/bin/sh
# fixture-clamp's own test: each line of tests/cases is an input and the expected output.
set -e
while read -r input expected; do
\tgot=$(./clamp "$input")
\tif [ "$got" != "$expected" ]; then
\t\techo "FAIL: clamp $input gave $got, expected $expected"
\t\texit 1
\tfi
\techo "ok: clamp $input = $got"
done < tests/cases
echo "fixture-clamp: all tests passed"
"""

# A plain debian/rules: make and dpkg-dev's tools only (no debhelper in the build root).
RULES = """\
#!/usr/bin/make -f
# Fixture package for hardbase's tests: plain make, no debhelper.
PKG = fixture-clamp
DOC = debian/tmp/usr/share/doc/$(PKG)

build: build-arch build-indep
build-indep:
build-arch:
\t$(CC) -O2 -Wall -o clamp clamp.c
ifeq (,$(filter nocheck,$(DEB_BUILD_OPTIONS)))
\tsh tests/run
endif

binary: binary-arch binary-indep
binary-indep:
binary-arch: build-arch
\trm -rf debian/tmp
\tinstall -d debian/tmp/DEBIAN debian/tmp/usr/bin $(DOC)
\tinstall -m 0755 clamp debian/tmp/usr/bin/clamp
\tinstall -m 0644 debian/copyright $(DOC)/copyright
\tgzip -9n -c debian/changelog > $(DOC)/changelog.Debian.gz
\tchmod 0644 $(DOC)/changelog.Debian.gz
\tdpkg-gencontrol -p$(PKG) -Pdebian/tmp
\tdpkg-deb --root-owner-group --build debian/tmp ..

clean:
\trm -rf debian/tmp debian/files clamp

.PHONY: build build-arch build-indep binary binary-arch binary-indep clean
"""

COPYRIGHT = """\
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Comment: fixture package for hardbase's tests, not real software.

Files: *
Copyright: 2026 hardbase tests
License: CC0-1.0
 To the extent possible under law, the authors have waived all copyright
 and related or neighboring rights to this fixture.
"""

FIX = """\
Description: fixture fix for CVE-2099-1001: clamp values above 100
 A fixture patch written for hardbase's tests; CVE-2099-1001 is a made-up id,
 not a real advisory. It bounds clamp() above and adds the test case.
Origin: upstream, https://fixture.invalid/fixture-clamp/commit/1001
Bug: https://fixture.invalid/fixture-clamp/issues/CVE-2099-1001
Last-Update: 2099-01-01
---
--- a/clamp.c
+++ b/clamp.c
@@ -6,6 +6,8 @@
 {
 \tif (n < 0)
 \t\treturn 0;
+\tif (n > 100)
+\t\treturn 100;
 \treturn n;
 }
\x20
""" + _add_case("150 100")

BREAKS_TESTS = """\
Description: fixture patch for CVE-2099-1002 whose new test case fails
 A fixture written for hardbase's tests: CVE-2099-1002 is a made-up id. The patch
 adds a test case the program does not satisfy, so the package's own test fails
 during the build.
Origin: vendor, https://fixture.invalid/fixture-clamp/broken
Last-Update: 2099-01-01
---
""" + _add_case("-1 1")

FILES = {
    "clamp.c": CLAMP_C,
    "tests/cases": CASES,
    "tests/run": RUN_TESTS,
    "debian/copyright": COPYRIGHT,
}
SOURCE_FIELDS = {
    "Section": "misc",
    "Priority": "optional",
    "Rules-Requires-Root": "no",
    "Standards-Version": "4.6.2",
}


def changelog(version: str, suite: str, items: str = "", date: str = "") -> str:
    return (
        f"{SOURCE} ({version}) {suite}; urgency=medium\n\n"
        + (items or "  * Fixture upload written for hardbase's tests, not a Debian upload.\n")
        + "\n -- hardbase tests <tests@hardbase.invalid>  "
        + (date or "Thu, 01 Jan 2026 10:00:00 +0000")
        + "\n"
    )


def add_fixture_package(archive: FixtureArchive, *, binary_suite: str = "bookworm") -> PublishedDeb:
    """Add the bookworm and trixie sources of fixture-clamp, and bookworm's binary .deb.

    The binary is made with `dpkg-deb --build` (tests/archive_fixture.py), not built
    from the source: it holds the package's files an image needs (`/usr/bin/clamp`
    is a shell stand-in there, `clamp -3` prints 0), with `Source: fixture-clamp` so a
    scanner maps it to the source. Publish the suites afterwards (SUITES).
    """
    archive.add_source(
        SOURCE, VERSION, changelog(VERSION, "bookworm"), suite="bookworm",
        binaries=[BINARY], files=FILES, rules=RULES, source_fields=SOURCE_FIELDS,
    )  # fmt: skip
    items = f"  * Fixture: fix {CVE} ({PATCH_NAME}).\n"
    archive.add_source(
        SOURCE, NEWER_VERSION,
        changelog(NEWER_VERSION, "trixie", items, "Fri, 02 Jan 2026 10:00:00 +0000")
        + "\n" + changelog(VERSION, "bookworm"),
        suite="trixie", binaries=[BINARY], rules=RULES, source_fields=SOURCE_FIELDS,
        files={**FILES, f"debian/patches/{PATCH_NAME}": FIX, "debian/patches/series":
               f"{PATCH_NAME}\n"},
    )  # fmt: skip
    return _binary(archive, VERSION, binary_suite)


def add_debian_fix(archive: FixtureArchive, *, suite: str = "bookworm-security") -> PublishedDeb:
    """Debian's own fix (a fixture upload): `1.0-1+deb12u1` with the patch, source and binary.

    It sorts above the `1.0-1+deb12u0+hb1` rebuild, so it retires the patch. Publish
    `suite` afterwards.
    """
    items = f"  * Fixture security upload: fix {CVE} ({PATCH_NAME}).\n"
    archive.add_source(
        SOURCE, DEBIAN_FIX_VERSION,
        changelog(DEBIAN_FIX_VERSION, suite, items, "Sat, 03 Jan 2026 10:00:00 +0000")
        + "\n" + changelog(VERSION, "bookworm"),
        suite=suite, binaries=[BINARY], rules=RULES, source_fields=SOURCE_FIELDS,
        files={**FILES, f"debian/patches/{PATCH_NAME}": FIX, "debian/patches/series":
               f"{PATCH_NAME}\n"},
    )  # fmt: skip
    return _binary(archive, DEBIAN_FIX_VERSION, suite)


def _binary(archive: FixtureArchive, version: str, suite: str) -> PublishedDeb:
    stand_in = "#!/bin/sh\n# fixture stand-in for clamp (hardbase tests)\n" + (
        '[ "$1" -lt 0 ] && echo 0 || echo "$1"\n'
    )
    return archive.add_package(
        BINARY, version, suite=suite, source=SOURCE,
        files={"/usr/bin/clamp": stand_in,
               f"/usr/share/doc/{BINARY}/copyright": COPYRIGHT},
        modes={"/usr/bin/clamp": 0o755},
        fields={"Section": "misc", "Priority": "optional"},
    )  # fmt: skip
