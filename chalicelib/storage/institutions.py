"""DynamoDB side of the operator's credential and designation use cases (services/institution_ports.py).

A revoked token keeps its item, with `revoked_at` set, so the operator can list what
was revoked and when; DynamoCardStore.get_credential reads a revoked token as absent.
"""

from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.errors import ConcurrentUpdate, NotFound
from chalicelib.domain.holders import Institution, InstitutionKind
from chalicelib.services.institution_ports import IssuedToken

from .errors import translated
from .models import CredentialModel, InstitutionModel


def _issued(item: CredentialModel) -> IssuedToken:
    return IssuedToken(item.token_digest, item.institution_id, item.created_at, item.revoked_at)


class DynamoInstitutionRegistry:
    def token(self, token_digest: str) -> IssuedToken | None:
        with translated():
            try:
                return _issued(CredentialModel.get(token_digest, consistent_read=True))
            except DoesNotExist:
                return None

    def tokens_of(self, institution_id: str) -> list[IssuedToken]:
        # The index is eventually consistent: a token issued a moment ago may be missing
        # from it (moments on DynamoDB); `sscard institutions revoke --all` says so.
        with translated():
            items = list(CredentialModel.by_institution.query(institution_id))
        return sorted((_issued(i) for i in items), key=lambda t: t.created_at)

    def revoke(self, token_digest: str, at: datetime) -> bool:
        item = CredentialModel(token_digest)
        try:
            with translated():
                item.update(
                    actions=[CredentialModel.revoked_at.set(at)],
                    condition=CredentialModel.token_digest.exists()
                    & CredentialModel.revoked_at.does_not_exist(),
                )
        except ConcurrentUpdate:
            if self.token(token_digest) is None:
                raise NotFound("No such token") from None
            return False
        return True

    def set_designated(self, institution_id: str, designated: bool) -> Institution:
        item = InstitutionModel(institution_id)
        try:
            with translated():
                item.update(
                    actions=[InstitutionModel.designated.set(designated)],
                    condition=InstitutionModel.institution_id.exists(),
                )
        except ConcurrentUpdate as exc:
            raise NotFound(f"No institution {institution_id}") from exc
        return Institution(item.institution_id, InstitutionKind(item.kind), item.name, bool(item.designated))
