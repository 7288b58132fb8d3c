"""API tokens: created by `hardbase serve token create`, stored as SHA-256 hashes in the state
database (table `srv_tokens`, its own schema version), checked on every request.

A token reads `hbt_<id>_<secret>`: the id finds the row, the secret (32 random bytes) is
compared by hash. Only the hash is stored, so a copy of the database gives no token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass

import sqlalchemy as sa

from hardbase.errors import HardbaseError, UsageError
from hardbase.util.sql import Schema, SQLStore, sqlite_url

ROLES = ("read", "admin")
_TOKEN = re.compile(r"^hbt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
_CACHE_SECONDS = 5.0  # a revoked token stops working within this time


class TokenError(HardbaseError):
    """The token table cannot be read or written."""


_md = sa.MetaData()
meta_t = sa.Table(
    "srv_meta",
    _md,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
tokens_t = sa.Table(
    "srv_tokens",
    _md,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200), nullable=False, default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float, nullable=True),
)
SCHEMA = Schema(_md, meta_t, migrations=())


@dataclass(frozen=True)
class Principal:
    """Who a request acts as."""

    role: str  # read | admin | anonymous
    token_id: str = ""
    name: str = ""

    @property
    def can_read(self) -> bool:
        return self.role in ROLES or self.role == "anonymous"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


ANONYMOUS = Principal("anonymous")


@dataclass(frozen=True)
class TokenInfo:
    id: str
    role: str
    name: str
    created_at: float
    revoked_at: float | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenStore:
    """The token table of one state database."""

    def __init__(self, store: SQLStore) -> None:
        self.store = store
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    @classmethod
    def open(cls, url: str) -> TokenStore:
        where = sqlite_url(url, TokenError, "the state database")
        return cls(
            SQLStore.open(
                where, SCHEMA, error=TokenError, what="the token table", hint="check `state:`"
            )
        )

    def close(self) -> None:
        self.store.close()

    def create(self, role: str, name: str = "") -> str:
        """A new token of `role`; the only time its secret is seen."""
        if role not in ROLES:
            raise UsageError(f"'{role}' is not a role; use one of {', '.join(ROLES)}")
        token_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        with self.store.begin("storing the token failed") as conn:
            conn.execute(
                tokens_t.insert().values(
                    id=token_id,
                    sha256=_digest(secret),
                    role=role,
                    name=name,
                    created_at=time.time(),
                )  # fmt: skip
            )
        return f"hbt_{token_id}_{secret}"

    def list(self) -> list[TokenInfo]:
        with self.store.connect("reading the tokens failed") as conn:
            rows = conn.execute(sa.select(tokens_t).order_by(tokens_t.c.created_at)).all()
        return [TokenInfo(r.id, r.role, r.name, r.created_at, r.revoked_at) for r in rows]

    def revoke(self, token_id: str) -> None:
        with self.store.begin("revoking the token failed") as conn:
            result = conn.execute(
                tokens_t.update()
                .where(tokens_t.c.id == token_id, tokens_t.c.revoked_at.is_(None))
                .values(revoked_at=time.time())
            )
        if result.rowcount != 1:
            raise UsageError(
                f"there is no active token {token_id}; see `hardbase serve token list`"
            )
        with self._lock:
            self._cache.clear()

    def check(self, token: str) -> Principal | None:
        """The principal a presented token stands for, None when it is unknown or revoked."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        now = time.monotonic()
        key = _digest(token)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        token_id, secret = match.groups()
        with self.store.connect("reading the tokens failed") as conn:
            row = conn.execute(
                sa.select(tokens_t).where(
                    tokens_t.c.id == token_id, tokens_t.c.revoked_at.is_(None)
                )
            ).first()
        found = None
        if row is not None and hmac.compare_digest(row.sha256, _digest(secret)):
            found = Principal(row.role, row.id, row.name)
        with self._lock:
            if len(self._cache) > 10000:
                self._cache.clear()
            self._cache[key] = (now + _CACHE_SECONDS, found)
        return found
