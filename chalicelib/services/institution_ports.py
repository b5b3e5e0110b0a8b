"""What the operator's credential and designation use cases (services/admin.py) need from storage.

Kept apart from ports.CardStore: the authentication path reads credentials through
CardStore.get_credential, which answers None for a revoked token; this port is the
operator's side, which sees revoked tokens too and writes revocations and designations.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from chalicelib.domain.holders import Institution


@dataclass(frozen=True)
class IssuedToken:
    """One token issued to an institution, known only by its keyed digest."""

    token_digest: str
    institution_id: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


class InstitutionRegistry(Protocol):
    def token(self, token_digest: str) -> IssuedToken | None:
        """The token, revoked or not; None if it was never issued."""
        ...

    def tokens_of(self, institution_id: str) -> list[IssuedToken]:
        """Every token issued to the institution, oldest first, revoked ones included."""
        ...

    def revoke(self, token_digest: str, at: datetime) -> bool:
        """Mark the token revoked at `at`; False if it was revoked already (the first time stays)."""
        ...

    def set_designated(self, institution_id: str, designated: bool) -> Institution:
        """Write the designation; raises NotFound if there is no such institution."""
        ...
