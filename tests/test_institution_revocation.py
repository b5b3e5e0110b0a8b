"""Revoking institution tokens and changing designations, on DynamoDB (moto): what the
authentication path reads afterwards (DynamoCardStore.get_credential / get_institution)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from moto import mock_aws

from chalicelib.domain.errors import InvalidInput, NotFound
from chalicelib.domain.holders import InstitutionKind
from chalicelib.services import admin
from chalicelib.services.digests import token_digest
from tests.conftest import NOW

KEY = b"k" * 32


@pytest.fixture
def stores() -> Iterator[tuple[object, object]]:
    from chalicelib.storage.dynamo import DynamoCardStore
    from chalicelib.storage.institutions import DynamoInstitutionRegistry
    from chalicelib.storage.models import create_tables

    with mock_aws():
        create_tables()
        yield DynamoCardStore(), DynamoInstitutionRegistry()


def test_a_revoked_token_reads_as_absent_and_the_others_still_work(stores):
    store, registry = stores
    inst, first = admin.add_institution(store, KEY, InstitutionKind.PHARMACY, "P", NOW, designated=True)
    second = admin.issue_token(store, KEY, inst, NOW + timedelta(seconds=1))

    assert admin.revoke_token(registry, KEY, inst.institution_id, first, NOW + timedelta(minutes=1))

    assert store.get_credential(token_digest(KEY, first)) is None
    assert store.get_credential(token_digest(KEY, second)).institution_id == inst.institution_id
    listed = registry.tokens_of(inst.institution_id)
    assert [t.revoked_at for t in listed] == [NOW + timedelta(minutes=1), None]


def test_revoking_again_keeps_the_first_revocation(stores):
    store, registry = stores
    inst, token = admin.add_institution(store, KEY, InstitutionKind.HOSPITAL, "H", NOW)
    assert admin.revoke_token(registry, KEY, inst.institution_id, token, NOW) is True
    assert admin.revoke_token(registry, KEY, inst.institution_id, token, NOW + timedelta(hours=1)) is False
    assert registry.token(token_digest(KEY, token)).revoked_at == NOW


def test_a_token_is_revoked_only_under_its_own_institution(stores):
    store, registry = stores
    mine, _ = admin.add_institution(store, KEY, InstitutionKind.HOSPITAL, "H", NOW)
    _, theirs = admin.add_institution(store, KEY, InstitutionKind.PHARMACY, "P", NOW)
    with pytest.raises(NotFound):
        admin.revoke_token(registry, KEY, mine.institution_id, theirs, NOW)
    with pytest.raises(NotFound):
        admin.revoke_token(registry, KEY, mine.institution_id, "sst_never-issued", NOW)
    assert store.get_credential(token_digest(KEY, theirs)) is not None


def test_revoking_all_of_an_institutions_tokens_leaves_other_institutions_alone(stores):
    store, registry = stores
    inst, t1 = admin.add_institution(store, KEY, InstitutionKind.SERVICE_CENTER, "SC", NOW)
    t2 = admin.issue_token(store, KEY, inst, NOW)
    t3 = admin.issue_token(store, KEY, inst, NOW)
    admin.revoke_token(registry, KEY, inst.institution_id, t3, NOW)
    other, t_other = admin.add_institution(store, KEY, InstitutionKind.SERVICE_CENTER, "SC2", NOW)

    revoked = admin.revoke_all_tokens(store, registry, inst.institution_id, NOW)

    assert len(revoked) == 2  # t3 was revoked already
    for token in (t1, t2, t3):
        assert store.get_credential(token_digest(KEY, token)) is None
    assert store.get_credential(token_digest(KEY, t_other)).institution_id == other.institution_id
    with pytest.raises(NotFound):
        admin.revoke_all_tokens(store, registry, "NO-SUCH", NOW)


def test_designation_changes_what_the_authentication_path_reads(stores):
    store, registry = stores
    pharmacy, _ = admin.add_institution(store, KEY, InstitutionKind.PHARMACY, "P", NOW)
    assert admin.designate(store, registry, pharmacy.institution_id, True).designated
    assert store.get_institution(pharmacy.institution_id).designated is True
    assert not admin.designate(store, registry, pharmacy.institution_id, False).designated
    assert store.get_institution(pharmacy.institution_id).designated is False


def test_only_pharmacies_and_hospitals_are_designated(stores):
    store, registry = stores
    center, _ = admin.add_institution(store, KEY, InstitutionKind.SERVICE_CENTER, "SC", NOW)
    with pytest.raises(InvalidInput):
        admin.designate(store, registry, center.institution_id, True)
    assert store.get_institution(center.institution_id).designated is False
    with pytest.raises(NotFound):
        admin.designate(store, registry, "NO-SUCH", True)
