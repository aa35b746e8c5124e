"""Replies of the admin-role functions (`convex/admins.ts`), as typed objects.

Parsed once by the gateway, with the same strictness as `contract.py`: a reply
that drifted from `convex/admins.ts` is one `ContractError`, not a KeyError in
the CLI.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, cast

from qbwc_bridge.contract import ContractError, _bool, _list, _num, _obj, _opt_str, _str

GrantResult = Literal["granted", "unchanged"]
RevokeResult = Literal["revoked", "absent"]


def _choice(data: Any, key: str, allowed: tuple[str, ...]) -> str:
    value = _str(data, key)
    if value not in allowed:
        raise ContractError(f"{key} must be one of {', '.join(allowed)}, got {value!r}")
    return value


@dataclass(frozen=True)
class AdminGrant:
    subject: str
    result: GrantResult

    @classmethod
    def parse(cls, value: Any) -> AdminGrant:
        data = _obj(value, "admins:grant reply")
        result = _choice(data, "result", ("granted", "unchanged"))
        return cls(subject=_str(data, "subject"), result=cast(GrantResult, result))


@dataclass(frozen=True)
class AdminRevoke:
    subject: str
    result: RevokeResult

    @classmethod
    def parse(cls, value: Any) -> AdminRevoke:
        data = _obj(value, "admins:revoke reply")
        result = _choice(data, "result", ("revoked", "absent"))
        return cls(subject=_str(data, "subject"), result=cast(RevokeResult, result))


@dataclass(frozen=True)
class Admin:
    subject: str
    granted_at: float
    """ms since epoch, Convex's clock."""
    granted_by: str
    note: str | None

    @classmethod
    def parse(cls, value: Any) -> Admin:
        data = _obj(value, "admin")
        return cls(
            subject=_str(data, "subject"),
            granted_at=_num(data, "grantedAt"),
            granted_by=_str(data, "grantedBy"),
            note=_opt_str(data, "note"),
        )


@dataclass(frozen=True)
class AdminList:
    admins: tuple[Admin, ...]
    more: bool
    """True when Convex left some out (the listing is bounded)."""

    @classmethod
    def parse(cls, value: Any) -> AdminList:
        data = _obj(value, "admins:list reply")
        return cls(
            admins=tuple(Admin.parse(a) for a in _list(data.get("admins"), "admins")),
            more=_bool(data, "more"),
        )
