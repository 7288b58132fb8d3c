"""Python distributions in images, on real Debian packages (bookworm's python3-idna and
python3-py, downloaded through the verified archive client; marked `archive`).

- A distribution a Debian package installed (listed in its `var/lib/dpkg/info/*.list`
  or distroless `status.d/NAME.md5sums`) is reported as the deb only, as
  Trivy does: Debian fixes its own versions (idna CVE-2024-3651 was reported on the
  PyPI side although Debian fixed it in 3.3-1+deb12u1).
- Vendored distributions (`py/_vendored_packages/apipkg-2.0.0.dist-info`) are found
  when they are not Debian's.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hardbase.debian.archive import Archive
from hardbase.debian.model import SourceEntry
from hardbase.util.http import download
from hardbase.vuln.inventory import inventory

pytestmark = [pytest.mark.archive]


@pytest.fixture(scope="module")
def debs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("debs")
    entry = SourceEntry(uris=("https://deb.debian.org/debian",), suites=("bookworm",))
    index, _ = Archive([entry], cache_dir=work / "archive").load(["amd64"])
    out = {}
    for name in ("python3-idna", "python3-py"):
        pkg = index.candidates(name, "amd64")[0]
        out[name] = work / f"{name}.deb"
        download(pkg.url, out[name], max_size=pkg.size, sha256=pkg.sha256, size=pkg.size)
    return out


def _install(root: Path, deb: Path, *, dpkg: bool, prefix: str = "") -> None:
    """Unpack `deb` into `root` (under `prefix` instead of usr/lib/python3 when given),
    recording it in var/lib/dpkg/status when `dpkg`."""
    unpacked = root.parent / f"{deb.stem}-unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True)
    source = unpacked / "usr/lib/python3/dist-packages"
    target = root / (prefix or "usr/lib/python3/dist-packages")
    shutil.copytree(source, target, dirs_exist_ok=True)
    (root / "etc").mkdir(parents=True, exist_ok=True)
    (root / "etc/os-release").write_text('ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n')
    if dpkg:
        control = subprocess.run(["dpkg-deb", "-f", str(deb)], check=True, text=True,
                                 capture_output=True).stdout  # fmt: skip
        status = root / "var/lib/dpkg/status"
        status.parent.mkdir(parents=True, exist_ok=True)
        with status.open("a") as fh:
            fh.write(control.rstrip("\n") + "\nStatus: install ok installed\n\n")
        # the file list dpkg writes for an installed package
        listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], check=True,
                                 capture_output=True).stdout  # fmt: skip
        names = subprocess.run(["tar", "-t"], input=listing, check=True,
                               capture_output=True).stdout.decode().split()  # fmt: skip
        info = root / "var/lib/dpkg/info"
        info.mkdir(parents=True, exist_ok=True)
        package = control.split("Package: ", 1)[1].split()[0]
        (info / f"{package}.list").write_text(
            "".join("/" + n.removeprefix("./").rstrip("/") + "\n" for n in names if n != "./")
        )


def _packages(root: Path) -> set[tuple[str, str, str]]:
    found = inventory(f"dir:{root}").inventory.packages
    return {(p.type, p.name, p.version) for p in found}


def test_a_debian_packaged_python_library_is_only_the_deb(
    tmp_path: Path, debs: dict[str, Path]
) -> None:
    root = tmp_path / "root"
    _install(root, debs["python3-idna"], dpkg=True)
    found = _packages(root)
    assert any(t == "deb" and n == "python3-idna" for t, n, _ in found)
    assert not any(t == "pypi" for t, _, _ in found), found
    # the same files in a distroless-style image: status.d with the package's md5sums
    distroless = tmp_path / "distroless"
    _install(distroless, debs["python3-idna"], dpkg=True)
    status = distroless / "var/lib/dpkg/status"
    status_d = distroless / "var/lib/dpkg/status.d"
    status_d.mkdir()
    status.rename(status_d / "python3-idna")
    md5sums = subprocess.run(["dpkg-deb", "-I", str(debs["python3-idna"]), "md5sums"],
                             check=True, capture_output=True).stdout  # fmt: skip
    (status_d / "python3-idna.md5sums").write_bytes(md5sums)
    shutil.rmtree(distroless / "var/lib/dpkg/info")
    found = _packages(distroless)
    assert any(t == "deb" for t, _, _ in found) and not any(t == "pypi" for t, _, _ in found)


def test_vendored_distributions_are_found(tmp_path: Path, debs: dict[str, Path]) -> None:
    # py as pip would place it (not Debian's): its vendored apipkg and iniconfig count
    root = tmp_path / "root"
    _install(root, debs["python3-py"], dpkg=False,
             prefix="usr/local/lib/python3.11/dist-packages")  # fmt: skip
    found = _packages(root)
    assert ("pypi", "apipkg", "2.0.0") in found and ("pypi", "iniconfig", "1.1.1") in found


def test_a_distribution_in_a_dpkg_file_list_is_the_debs(
    tmp_path: Path, debs: dict[str, Path]
) -> None:
    # the same files, now owned by a package according to dpkg's file list
    root = tmp_path / "root"
    prefix = "usr/local/lib/python3.11/dist-packages"
    _install(root, debs["python3-idna"], dpkg=True)
    _install(root, debs["python3-py"], dpkg=False, prefix=prefix)
    listed = sorted("/" + str(p.relative_to(root)) for p in (root / prefix).rglob("*"))
    info = root / "var/lib/dpkg/info"
    (info / "python3-py.list").write_text("\n".join(listed) + "\n")
    assert not any(t == "pypi" for t, _, _ in _packages(root))
