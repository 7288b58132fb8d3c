"""`hardbase patch build` of a build that fails, through the CLI: exit 2, one sentence
naming the kept log, nothing published.

Real parts: bookworm's `hello` 2.10-3 from deb.debian.org (verified source, a real
build root from mmdebstrap, dpkg-buildpackage under runc). The patch is a **fixture**
written here: it makes src/hello.c fail to compile on purpose, and the CVE it names,
CVE-2099-0001, is made up (no real advisory).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardbase.cli.main import main

pytestmark = [pytest.mark.archive, pytest.mark.slow, pytest.mark.timeout(1500)]

BREAKS_THE_BUILD = "\n".join(
    [
        "Description: fixture patch for hardbase's tests: it makes the build fail on purpose",
        " Not a fix; CVE-2099-0001 is a made-up id for the test.",
        "Origin: vendor, https://fixture.invalid/hello/break-the-build",
        "Bug: CVE-2099-0001",
        "---",
        "--- a/src/hello.c",
        "+++ b/src/hello.c",
        "@@ -17,6 +17,7 @@",
        "    You should have received a copy of the GNU General Public License",
        "    along with this program.  If not, see <http://www.gnu.org/licenses/>.  */",
        " ",  # an empty context line
        "+#error fixture: this build fails on purpose",
        " #include <config.h>",
        ' #include "system.h"',
        ' #include "errno.h"',
        "",
    ]
)


def test_a_build_that_fails_keeps_its_log_says_where_and_publishes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-q", "repo", "keygen", "--no-password", str(tmp_path / "archive")]) == 0
    patch = tmp_path / "break-the-build.patch"
    patch.write_text(BREAKS_THE_BUILD)
    capsys.readouterr()
    cache = tmp_path / "cache"
    repo = tmp_path / "repo"
    key = tmp_path / "archive.key"
    code = main(["--cache-dir", str(cache), "-q", "patch", "build", "hello", "--release",
                 "bookworm", "--cve", "CVE-2099-0001", "--patch", str(patch), "--repo", str(repo),
                 "--key", str(key), "--work", str(tmp_path / "work")])  # fmt: skip
    out, err = capsys.readouterr()
    log = cache / "patch-logs" / "hello_2.10-3+deb12u0+hb1_amd64.build.log"
    assert code == 2, err
    assert out == ""
    [line] = err.splitlines()
    assert line.startswith("hardbase: error: dpkg-buildpackage failed (")
    assert line.endswith(f"; the whole log is {log}")
    assert "fixture: this build fails on purpose" in log.read_text()
    assert not repo.exists()
    assert not list((tmp_path / "work").glob("out/*.deb"))
