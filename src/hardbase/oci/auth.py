"""Registry credentials and authentication challenges.

Credentials come from `HARDBASE_REGISTRY_USERNAME`/`HARDBASE_REGISTRY_PASSWORD`
or from the `auths` section of Docker's `config.json` (`$DOCKER_CONFIG` or
`~/.docker`). They are held in memory only and never appear in a message or
a log line: `Credentials.__repr__` hides the password.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from hardbase.errors import UsageError
from hardbase.util import jsondoc

log = logging.getLogger(__name__)

ENV_USERNAME = "HARDBASE_REGISTRY_USERNAME"
ENV_PASSWORD = "HARDBASE_REGISTRY_PASSWORD"
DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")


@dataclass(frozen=True)
class Credentials:
    """A user name and password for one registry; `source` says where they came from."""

    username: str
    password: str = field(repr=False)
    source: str = "HARDBASE_REGISTRY_USERNAME/PASSWORD"

    def basic(self) -> str:
        """The value of an `Authorization: Basic` header."""
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode("ascii")
        return f"Basic {token}"


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG")
    return (Path(base) if base else Path.home() / ".docker") / "config.json"


def load_credentials(registry: str) -> Credentials | None:
    """Credentials for `registry` (HOST[:PORT]): the environment first, then Docker's config."""
    user = os.environ.get(ENV_USERNAME)
    password = os.environ.get(ENV_PASSWORD)
    if user or password:
        if not (user and password is not None):
            raise UsageError(
                f"set both {ENV_USERNAME} and {ENV_PASSWORD} (only one of them is set)"
            )
        return Credentials(user, password)
    return _from_docker_config(registry, docker_config_path())


def _config_keys(registry: str) -> list[str]:
    keys = [registry, f"https://{registry}", f"http://{registry}", f"https://{registry}/v1/"]
    if registry in ("docker.io", "index.docker.io", "registry-1.docker.io"):
        keys += list(DOCKER_HUB_KEYS)
    return keys


def _from_docker_config(registry: str, path: Path) -> Credentials | None:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror}); fix its permissions") from None
    try:
        config = jsondoc.loads(raw)
    except ValueError:
        raise UsageError(f"{path} is not valid JSON; fix or remove it") from None
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        return None
    for key in _config_keys(registry):
        entry = auths.get(key)
        if isinstance(entry, dict):
            return _entry_credentials(entry, key, path)
    if isinstance(config, dict) and (config.get("credsStore") or config.get("credHelpers")):
        log.debug("credential helpers in %s are not supported; ignoring them", path)
    return None


def _entry_credentials(entry: dict[str, object], key: str, path: Path) -> Credentials | None:
    encoded = entry.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise UsageError(
                f"the auth entry for '{key}' in {path} is not base64 of USER:PASSWORD; log in again"
            ) from None
        user, sep, password = decoded.partition(":")
        if not sep or not user:
            raise UsageError(
                f"the auth entry for '{key}' in {path} is not base64 of USER:PASSWORD; log in again"
            )
        return Credentials(user, password, str(path))
    name, secret = entry.get("username"), entry.get("password")
    if isinstance(name, str) and isinstance(secret, str) and name:
        return Credentials(name, secret, str(path))
    return None


_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


def parse_challenge(header: str) -> tuple[str, dict[str, str]]:
    """Split a `WWW-Authenticate` value into its scheme (lower case) and parameters."""
    scheme, _, rest = header.strip().partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        match = _PARAM.match(rest, pos)
        if not match or match.end() == pos:
            break
        value = match.group(2) if match.group(2) is not None else match.group(3)
        params[match.group(1).lower()] = re.sub(r"\\(.)", r"\1", value or "")
        pos = match.end()
    return scheme.lower(), params
