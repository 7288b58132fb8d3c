"""The package relations patch-image keeps true without apt: new dependencies, conflicts.

`NewDependencies` resolves what the upgrades need and the image lacks from the same
signed suites, as apt would choose it (the first alternative that can be installed,
a real package or one that `Provides:` the name, backtracking to the next alternative
when one cannot be added script-free). `needs_rebuild` then drops, until nothing
changes, every upgrade whose maintainer scripts changed, whose dependencies the
patched image does not satisfy, that breaks an installed package's dependency, or
whose `Conflicts`/`Breaks` (or an installed package's against it) the patched image
would violate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from hardbase.debian.control import parse_fields
from hardbase.debian.index import Relation, parse_relations
from hardbase.debian.model import BinaryPackage
from hardbase.oci.filetree import FileTreeResult
from hardbase.patch import dpkgdb
from hardbase.vuln.match import compare_debian

Contents = tuple[Any, dict[str, bytes], list[str]]  # payload, control files, dpkg's list
NEW_PACKAGE_SCRIPTS = (*dpkgdb.SCRIPTS, "config", "triggers")
DEPENDS = ("Pre-Depends", "Depends")
NEGATIVE = (("Conflicts", "conflicts with"), ("Breaks", "breaks"))
ORPHAN = "no upgrade left needs it"


class _Step:
    """What a resolution step reads: the image's database and files, the suites' index,
    the upgrades chosen (name -> new version) and their contents, which it may extend,
    and how to fetch and read a package."""

    def __init__(
        self,
        db: dpkgdb.Database,
        tree: FileTreeResult,
        index: Any,
        chosen: dict[str, BinaryPackage],
        contents: dict[str, Contents],
        *,
        only: str,
        arch: str,
        fetch: Callable[[BinaryPackage], Contents],
    ) -> None:
        self.db, self.tree, self.index, self.only, self.arch = db, tree, index, only, arch
        self.chosen, self.contents, self.fetch = chosen, contents, fetch


class NewDependencies(_Step):
    """The packages the upgrades need that the image lacks, resolved from the same suites.

    For each Pre-Depends/Depends group of a new version that the image (with every
    upgrade made) does not satisfy, the alternatives are tried in order: for each, the
    newest version `only` allows that satisfies the relation, then the packages providing
    it (`Provides:`, a versioned provide for a versioned relation). The first one that
    can be added, with its own missing dependencies resolved the same way, is taken; one
    cannot be added when it has a maintainer script, a Conflicts/Breaks with an installed,
    upgraded or added package (or one of theirs on it), or a file an installed package
    owns: adding it would need dpkg to run or decide something. When no alternative can
    be added, the upgrade is blocked, with every alternative's reason.
    """

    def resolve(self) -> None:
        """Add every missing dependency of each upgrade (and of what was added, and so on)."""
        self.packages: dict[str, BinaryPackage] = {}  # added, by name
        self.requires: dict[str, list[str]] = {}  # package -> the added packages it needs
        self.why: dict[str, str] = {}  # upgrade -> why it is blocked
        self.versions, self.provides = after_patch(self.db, self.chosen, self.contents, {})
        self._added_provides: dict[str, list[tuple[str, str]]] = {}  # name -> (provider, ver)
        self._read: dict[str, Contents] = {}  # by sha256
        self._owned = listed_paths(self.db, self.tree, set())
        for name in sorted(self.chosen):
            saved = self._save()
            reason = self._depends(name)
            if reason:
                self._restore(saved)
                self.why[name] = f"it {reason}"

    def _save(self) -> tuple[Any, ...]:
        return copy.deepcopy((self.packages, self.requires, self._added_provides))

    def _restore(self, saved: tuple[Any, ...]) -> None:
        self.packages, self.requires, self._added_provides = saved

    def _depends(self, name: str) -> str:
        """Add what `name` needs; "" when done, else why it cannot be (a clause after "it")."""
        control = self.contents[name][0].control
        needs = self.requires.setdefault(name, [])
        for field_name in DEPENDS:
            for group in parse_relations(control_field(control, field_name)):
                if any(satisfied(r, self.versions, self.provides) for r in group):
                    continue
                have = self._added_for(group)
                if have:
                    needs.append(have)
                    continue
                reason = self._one_of(name, group)
                if reason:
                    return reason
        return ""

    def _added_for(self, group: tuple[Relation, ...]) -> str:
        """The name of an added package that satisfies `group` ("" when none does)."""
        for rel in group:
            added = self.packages.get(rel.name)
            if added is not None and (not rel.op or holds(added.version, rel.op, rel.version)):
                return rel.name
            for provider, version in self._added_provides.get(rel.name, []):
                if not rel.op or (version and holds(version, rel.op, rel.version)):
                    return provider
        return ""

    def _one_of(self, name: str, group: tuple[Relation, ...]) -> str:
        failures = []
        for rel, candidate in self._candidates(group):
            reason = self._try(candidate)
            if not reason:
                self.requires[name].append(candidate.name)
                return ""
            label = candidate.name
            if candidate.name != rel.name:
                label = f"{candidate.name} (which provides {rel.name})"
            failures.append(f"{label} {reason}")
        if not failures:
            return f"needs {alternatives(group)}, in neither the image nor the archive"
        return f"needs {alternatives(group)}, not installed, and " + ", and ".join(failures)

    def _candidates(self, group: tuple[Relation, ...]) -> list[tuple[Relation, BinaryPackage]]:
        """What could satisfy `group`, in apt's order: each alternative, then its providers."""
        out: list[tuple[Relation, BinaryPackage]] = []
        seen: set[str] = set()

        def allowed(p: BinaryPackage) -> bool:
            return (
                p.name not in self.db.packages
                and p.name not in seen
                and (self.only != "security" or p.suite.endswith("-security"))
            )

        for rel in group:
            for c in self.index.candidates(rel.name, self.arch):
                if allowed(c) and (not rel.op or holds(c.version, rel.op, rel.version)):
                    out.append((rel, c))
                    seen.add(c.name)
                    break
            for c, version in self.index.providers(rel.name, self.arch):
                if allowed(c) and (not rel.op or (version and holds(version, rel.op, rel.version))):
                    out.append((rel, c))
                    seen.add(c.name)
        return out

    def _try(self, package: BinaryPackage) -> str:
        """Add `package` and its dependencies; on failure undo that and say why."""
        saved = self._save()
        self.packages[package.name] = package
        for provided in _relations(package.provides):
            self._added_provides.setdefault(provided.name, []).append(
                (package.name, provided.version or "")
            )
        if package.sha256 not in self._read:
            self._read[package.sha256] = self.fetch(package)
        self.contents[package.name] = self._read[package.sha256]
        reason = self._check(package) or self._depends(package.name)
        if reason:
            self._restore(saved)
        return reason

    def _check(self, package: BinaryPackage) -> str:
        """What keeps the added `package` from being unpacked as it is ("" when nothing)."""
        name = package.name
        pc, files, listed = self.contents[name]
        scripts = [s for s in NEW_PACKAGE_SCRIPTS if s in files]
        if "triggers" in scripts and only_ldconfig(files["triggers"], listed):
            scripts.remove("triggers")
        scripts = [s for s in scripts if not only_bytecode(files[s])]
        if scripts:
            return f"has a {', '.join(scripts)} that must run"
        others = {n: p.version for n, p in self.packages.items() if n != name}
        for field_name, verb in NEGATIVE:
            for rel in _relations(control_field(pc.control, field_name)):
                if rel.name in self.db.packages and satisfied(rel, self.versions, {}):
                    return f"{verb} the installed {rel.name}"
                if rel.name in others and satisfied(rel, others, {}):
                    return f"{verb} {rel.name}, also added"
            for n in sorted({*self.db.packages, *others}):
                for rel in _relations(self._field(n, field_name)):
                    if rel.name == name and satisfied(rel, {name: package.version}, {}):
                        state = (
                            "upgraded"
                            if n in self.chosen
                            else ("installed" if n in self.db.packages else "added")
                        )
                        return f"is in the {field_name} of the {state} {n}"
        for path in listed:
            real = real_path(self.tree, path.lstrip("/"))
            info = self.tree.files.get(real)
            if real in self._owned and info is not None and info.kind != "dir":
                return f"has /{real}, a file an installed package owns"
        return ""

    def _field(self, name: str, field_name: str) -> str:
        """A field of `name` as it will be after the patch."""
        if name in self.chosen or name in self.packages:
            return control_field(self.contents[name][0].control, field_name)
        return self.db.packages[name].fields.get(field_name, "")

    def closure(self, name: str) -> list[str]:
        """The added packages `name` needs, directly or through others, in the order found."""
        out: list[str] = []
        todo = list(self.requires.get(name, []))
        while todo:
            n = todo.pop(0)
            if n not in out:
                out.append(n)
                todo += self.requires.get(n, [])
        return out

    def blocked(self) -> dict[str, str]:
        """The upgrades whose new dependencies cannot be added, with the reason."""
        return dict(sorted(self.why.items()))

    def needed(self, chosen: dict[str, BinaryPackage]) -> dict[str, tuple[BinaryPackage, str]]:
        """The packages to add for the upgrades `chosen`, with the first package needing each."""
        out: dict[str, tuple[BinaryPackage, str]] = {}
        for name in sorted(chosen):
            closure = self.closure(name)
            for n in closure:
                needer = next(m for m in [name, *closure] if n in self.requires.get(m, []))
                out.setdefault(n, (self.packages[n], needer))
        return out


class PulledUpgrades(_Step):
    """Upgrade too, as apt would, the installed packages an upgrade needs newer.

    That is an installed package whose version does not meet a new version's
    Depends/Pre-Depends (`libbar1 (>= 2)`), whose version a new version's
    Conflicts/Breaks name (`libbar1 (<< 2)`), or whose own Conflicts/Breaks name a new
    version: when the newest version `only` allows of it meets the relation, it joins
    `chosen` (and `contents`), and its own needs are looked at in turn. `resolve()`
    returns each package so pulled in with the upgrades needing it; each is then checked
    as any upgrade is.
    """

    def resolve(self) -> dict[str, list[str]]:
        self.pulled: dict[str, list[str]] = {}
        todo = sorted(self.chosen)
        while todo:
            name = todo.pop(0)
            for other in self.pull_for(name):
                self.pulled.setdefault(other, []).append(name)
                todo.append(other)
        return self.pulled

    def newest(self, name: str) -> BinaryPackage | None:
        """The newest version `only` allows of the installed `name`, if newer than it."""
        installed = self.db.packages[name]
        for c in self.index.candidates(name, installed.arch or self.arch):
            if self.only == "security" and not c.suite.endswith("-security"):
                continue
            return c if compare_debian(c.version, installed.version) > 0 else None
        return None

    def _take(self, name: str, candidate: BinaryPackage, fetched: Contents | None = None) -> str:
        self.chosen[name] = candidate
        self.contents[name] = fetched or self.fetch(candidate)
        return name

    def _pullable(self, name: str) -> bool:
        return name in self.db.packages and name not in self.chosen

    def pull_for(self, name: str) -> list[str]:
        """The installed packages the upgrade `name` needs upgraded, now in `chosen`."""
        return [*self._for_depends(name), *self._for_negative(name), *self._for_theirs(name)]

    def _for_depends(self, name: str) -> list[str]:
        control = self.contents[name][0].control
        versions, provides = after_patch(self.db, self.chosen, self.contents, {})
        out = []
        for field_name in DEPENDS:
            for group in parse_relations(control_field(control, field_name)):
                if any(satisfied(r, versions, provides) for r in group):
                    continue
                for rel in (r for r in group if self._pullable(r.name)):
                    c = self.newest(rel.name)
                    if c is not None and (not rel.op or holds(c.version, rel.op, rel.version)):
                        out.append(self._take(rel.name, c))
                        break
        return out

    def _for_negative(self, name: str) -> list[str]:
        """For the Conflicts/Breaks of `name`'s new version on an installed version."""
        control = self.contents[name][0].control
        versions = after_patch(self.db, self.chosen, self.contents, {})[0]
        out = []
        for field_name, _ in NEGATIVE:
            for rel in _relations(control_field(control, field_name)):
                if not (rel.op and self._pullable(rel.name) and satisfied(rel, versions, {})):
                    continue
                c = self.newest(rel.name)
                if c is not None and not holds(c.version, rel.op, rel.version):
                    out.append(self._take(rel.name, c))
        return out

    def _for_theirs(self, name: str) -> list[str]:
        """For an installed package's Conflicts/Breaks on `name`'s new version."""
        new = {name: self.chosen[name].version}
        out = []
        for other, installed in sorted(self.db.packages.items()):
            for field_name, _ in NEGATIVE:
                if not self._pullable(other) or not _names(
                    installed.fields.get(field_name, ""), name, new
                ):
                    continue
                c = self.newest(other)
                if c is not None:
                    fetched = self.fetch(c)
                    if not _names(control_field(fetched[0].control, field_name), name, new):
                        out.append(self._take(other, c, fetched))
        return out


def _names(field: str, name: str, versions: dict[str, str]) -> bool:
    """Whether a Conflicts/Breaks `field` names the package `name` at its version."""
    return any(r.name == name and satisfied(r, versions, {}) for r in _relations(field))


def only_ldconfig(triggers: bytes, listed: list[str]) -> bool:
    """Whether a `triggers` file only asks for `ldconfig`, and nothing needs it to run.

    dh_makeshlibs adds `activate-noawait ldconfig` to every shared library package. The
    dynamic loader searches the multiarch and /usr/lib directories without the cache
    (they are Debian's system directories), so a library added there is found although
    ldconfig does not run; a package that adds a directory to the loader's path (a
    file in /etc/ld.so.conf.d) does need it.
    """
    lines = [ln.strip() for ln in triggers.decode("utf-8", "replace").splitlines()]
    directives = [ln.split() for ln in lines if ln and not ln.startswith("#")]
    if not all(
        d in (["activate-noawait", "ldconfig"], ["activate", "ldconfig"]) for d in directives
    ):
        return False
    return not any(p.startswith("/etc/ld.so.conf.d/") and p != "/etc/ld.so.conf.d" for p in listed)


DH_PYTHON = ("# Automatically added by dh_python3", "# End automatically added section")
DH_PYTHON_LINES = (  # what dh_python3's postinst and prerm snippets are made of
    "if command -v py3compile ", "if command -v pypy3compile ", "if command -v py3clean ",
    "if command -v pypy3clean ", "py3compile -p ", "pypy3compile -p ", "py3clean -p ",
    "pypy3clean -p ", "else", "fi", "dpkg -L ", "find /usr/lib/python3/dist-packages/ ",
)  # fmt: skip


def only_bytecode(script: bytes) -> bool:
    """Whether a maintainer script is only dh_python3's byte-compiling (postinst) or
    cleaning (prerm) of the package's modules: nothing but its shebang, `set -e`,
    comments and sections dh_python3 added. Python imports the modules without their
    bytecode, so the script need not run.
    """
    lines = script.decode("utf-8", "replace").splitlines()
    if not lines or not lines[0].startswith("#!/bin/sh"):
        return False
    inside = found = False
    for line in (ln.strip() for ln in lines[1:]):
        if line == DH_PYTHON[0]:
            inside = found = True
        elif line == DH_PYTHON[1] and inside:
            inside = False
        elif inside and line and not line.startswith(DH_PYTHON_LINES):
            return False
        elif not inside and line and line != "set -e" and not line.startswith("#"):
            return False
    return found and not inside


def needs_rebuild(
    db: dpkgdb.Database,
    tree: FileTreeResult,
    chosen: dict[str, BinaryPackage],
    contents: dict[str, Contents],
    added: Callable[[dict[str, BinaryPackage]], dict[str, tuple[BinaryPackage, str]]],
    pulled: dict[str, list[str]] | None = None,
) -> dict[str, str]:
    """The upgrades that cannot be made without running something, with the reason.

    `added(kept)` is what the upgrades `kept` add as new dependencies; they count as
    installed. Dropping one upgrade can break another, so the checks repeat until none
    is dropped. An upgrade `pulled` in for others (`PulledUpgrades`) is dropped, with the
    reason "no upgrade left needs it", once none of those is kept.
    """
    out: dict[str, str] = {}
    for name in chosen:
        old = db.packages[name]
        new_scripts = {s: d for s, d in contents[name][1].items() if s in dpkgdb.SCRIPTS}
        if db.layout == "status":
            old_scripts = db.scripts(tree, old)
            changed = sorted(set(new_scripts) ^ set(old_scripts)) + sorted(
                s for s in new_scripts if s in old_scripts and new_scripts[s] != old_scripts[s]
            )
            if changed:
                out[name] = f"its {', '.join(sorted(set(changed)))} changed and must run"
    while True:
        kept = {n: p for n, p in chosen.items() if n not in out}
        orphan = [n for n, needers in (pulled or {}).items()
                  if n in kept and not any(m in kept for m in needers)]  # fmt: skip
        if orphan:
            out[orphan[0]] = ORPHAN
            continue
        new = added(kept)
        versions, provides = after_patch(db, kept, contents, new)
        broke = _broken_dependency(db, kept, contents, versions, provides) or _conflict(
            db, kept, contents, new, versions
        )
        if broke is None:
            return out
        out[broke[0]] = broke[1]


def _broken_dependency(
    db: dpkgdb.Database,
    kept: dict[str, BinaryPackage],
    contents: dict[str, Contents],
    versions: dict[str, str],
    provides: dict[str, list[str]],
) -> tuple[str, str] | None:
    """(upgrade to drop, why) for the first dependency the patched image would not satisfy."""
    for n, p in db.packages.items():
        upgraded = n in kept
        for field_name in DEPENDS:
            for group in parse_relations(_field_after(db, kept, contents, n, field_name)):
                if any(satisfied(r, versions, provides) for r in group):
                    continue
                if upgraded:
                    have = [f"{r.name} {versions[r.name]}" for r in group if r.name in versions]
                    held = f"the image has {', '.join(have)}" if have else "not installed"
                    return n, f"it needs {alternatives(group)}, {held}"
                for r in group:  # an installed package's own broken dependency is not ours
                    if r.name in kept:
                        return r.name, f"{n} {p.version} depends on {alternatives(group)}"
    return None


def _conflict(
    db: dpkgdb.Database,
    kept: dict[str, BinaryPackage],
    contents: dict[str, Contents],
    new: dict[str, tuple[BinaryPackage, str]],
    versions: dict[str, str],
) -> tuple[str, str] | None:
    """(upgrade to drop, why) for the first Conflicts/Breaks the patched image would violate.

    The Conflicts/Breaks of an upgrade's new version against what the image would hold
    drop that upgrade; an installed package's against an upgrade's new version drop the
    upgrade it names. A name another package provides counts too, except the declaring
    package's own. (An added package's were checked when it was added.)
    """
    provided = _provided_by(db, kept, contents, new)

    def state(n: str) -> str:
        return "upgraded" if n in kept else ("added" if n in new else "installed")

    for n in sorted(db.packages):
        version = kept[n].version if n in kept else db.packages[n].version
        for field_name, verb in NEGATIVE:
            for rel in _relations(_field_after(db, kept, contents, n, field_name)):
                hits = [
                    provider
                    for provider, pv in provided.get(rel.name, [])
                    if not rel.op or (pv and holds(pv, rel.op, rel.version))
                ]
                if rel.name in versions and satisfied(rel, versions, {}):
                    hits.insert(0, rel.name)
                for target in (t for t in hits if t != n):
                    if n in kept:
                        return n, (
                            f"{n} {version} {verb} {target} {versions[target]}, "
                            f"{state(target)} in the image"
                        )
                    if target in kept:
                        return target, (
                            f"the installed {n} {version} {verb} {target} {versions[target]}"
                        )
    return None


def _field_after(
    db: dpkgdb.Database,
    kept: dict[str, BinaryPackage],
    contents: dict[str, Contents],
    name: str,
    field_name: str,
) -> str:
    """A field of the installed `name` after the patch: its new version's when upgraded."""
    if name in kept:
        return control_field(contents[name][0].control, field_name)
    return db.packages[name].fields.get(field_name, "")


def _provided_by(
    db: dpkgdb.Database,
    kept: dict[str, BinaryPackage],
    contents: dict[str, Contents],
    new: dict[str, tuple[BinaryPackage, str]],
) -> dict[str, list[tuple[str, str]]]:
    """Virtual name -> (provider, provided version) in the patched image."""
    out: dict[str, list[tuple[str, str]]] = {}
    every = [(n, _field_after(db, kept, contents, n, "Provides")) for n in db.packages]
    every += [(n, p.provides) for n, (p, _) in new.items()]
    for provider, text in every:
        for rel in _relations(text):
            out.setdefault(rel.name, []).append((provider, rel.version or ""))
    return out


def after_patch(
    db: dpkgdb.Database,
    chosen: dict[str, BinaryPackage],
    contents: dict[str, Contents],
    added: dict[str, tuple[BinaryPackage, str]],
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """The version of each package and the versions of each name provided, after the patch."""
    versions = {n: p.version for n, p in db.packages.items()}
    versions |= {n: p.version for n, p in chosen.items()}
    versions |= {n: p.version for n, (p, _) in added.items()}
    provided = _provided_by(db, chosen, contents, added)
    return versions, {name: [v for _, v in pairs] for name, pairs in provided.items()}


def _relations(text: str) -> list[Relation]:
    """Every relation of a field, alternatives flattened (Provides, Conflicts, Breaks)."""
    return [rel for group in parse_relations(text) for rel in group]


def satisfied(rel: Relation, versions: dict[str, str], provides: dict[str, list[str]]) -> bool:
    """Whether a package of `versions` or a name `provides` lists satisfies `rel`.

    An unversioned provide never satisfies a versioned relation, as in dpkg.
    """
    have = versions.get(rel.name)
    if have is not None and (not rel.op or holds(have, rel.op, rel.version)):
        return True
    for provided in provides.get(rel.name, []):
        if not rel.op or (provided and holds(provided, rel.op, rel.version)):
            return True
    return False


def holds(have: str, op: str | None, want: str | None) -> bool:
    c = compare_debian(have, want or "")
    return {"<<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">>": c > 0}.get(op or "", False)


def alternatives(group: tuple[Relation, ...]) -> str:
    return " | ".join(str(r) for r in group)


def control_field(control: str, name: str) -> str:
    return parse_fields(control).get(name, "")


def listed_paths(db: dpkgdb.Database, tree: FileTreeResult, upgraded: set[str]) -> set[str]:
    """The real paths the packages not upgraded list: a whiteout never removes them."""
    upgraded_stems = {db.packages[n].info_name for n in upgraded}
    return {
        real_path(tree, p.lstrip("/"))
        for stem, paths in db.lists.items()
        if stem not in upgraded_stems
        for p in paths
    }


def real_path(tree: FileTreeResult, path: str) -> str:
    """`path` with its directory's links followed in the image (the file itself is not)."""
    head, _, name = path.rpartition("/")
    if not head:
        return path
    real_head = tree.resolve(head) or head
    return f"{real_head}/{name}"
