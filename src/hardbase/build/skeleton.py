"""The skeleton layer: what a root filesystem needs that no package ships as a file.

Accounts (root 0, nobody 65534, nonroot 65532) and their homes, /tmp with
mode 1777, the merged-/usr links, nsswitch.conf. It depends only on the
architecture, so every image of an architecture shares it.
"""

from __future__ import annotations

from hardbase.build.spec import NONROOT_UID
from hardbase.build.tree import DIR, REG, SYMLINK, Entry

SKELETON_VERSION = 1

PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    f"nonroot:x:{NONROOT_UID}:{NONROOT_UID}:nonroot:/home/nonroot:/sbin/nologin\n"
)
GROUP = f"root:x:0:\ntty:x:5:\nstaff:x:50:\nnobody:x:65534:\nnonroot:x:{NONROOT_UID}:\n"
NSSWITCH = (
    "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\n"
    "protocols: files\nservices: files\nethers: files\nrpc: files\n"
)


def skeleton_entries(arch: str, mtime: int) -> list[Entry]:
    def d(path: str, mode: int = 0o755, uid: int = 0) -> Entry:
        return Entry(path, DIR, mode, uid, uid, mtime, owner="hardbase")

    def f(path: str, text: str, mode: int = 0o644) -> Entry:
        return Entry(path, REG, mode, 0, 0, mtime, data=text.encode(), owner="hardbase")

    def link(path: str, target: str) -> Entry:
        return Entry(path, SYMLINK, 0o777, 0, 0, mtime, target=target, owner="hardbase")

    entries = [
        d("usr"), d("usr/bin"), d("usr/sbin"), d("usr/lib"),
        link("bin", "usr/bin"), link("sbin", "usr/sbin"), link("lib", "usr/lib"),
        d("etc"), f("etc/passwd", PASSWD), f("etc/group", GROUP),
        f("etc/nsswitch.conf", NSSWITCH),
        d("root", 0o700), d("home"), d("home/nonroot", 0o700, NONROOT_UID),
        d("tmp", 0o1777), d("var"), d("var/tmp", 0o1777), d("var/lib"), d("var/lib/dpkg"),
        d("var/lib/dpkg/status.d"),
    ]  # fmt: skip
    if arch == "amd64":
        entries += [d("usr/lib64"), link("lib64", "usr/lib64")]
    return entries
