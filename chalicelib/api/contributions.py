"""Contribution endpoints: collection systems queue contributions; the mobile app reads its own."""

from __future__ import annotations

import base64
import binascii
import re
from datetime import date

from chalice.app import Blueprint, Request, Response

from chalicelib.domain.contributions import BOOK_OF
from chalicelib.domain.errors import DomainError
from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.periods import china_date
from chalicelib.services import contributions
from chalicelib.services.contribution_ports import ContributionQueue, ContributionStore, QueuedContribution
from chalicelib.settings import settings

from .auth import require_holder, require_institution
from .contribution_schemas import (
    ContributionBatch,
    ContributionMessage,
    ContributionMonthView,
    ContributionsRequest,
    CoverageView,
    MyContributionsAnswer,
    MyCoverageAnswer,
    QueuedAnswer,
    SeriousIllnessView,
)
from .deps import Deps, deps
from .http import answer, json_body, parse
from .idempotent import idempotent
from .operations import operation
from .problems import Problem

bp = Blueprint(__name__)
DEFAULT_PAGE = 50
MAX_PAGE = 200
_MONTH_KEY = re.compile(r"^[0-9]{4}-[0-9]{2}#[a-z_]{1,32}$")


def _store(d: Deps) -> ContributionStore:
    if d.contributions is None:
        raise RuntimeError("no contribution store is configured")
    return d.contributions


def _queue(d: Deps) -> ContributionQueue:
    if d.contribution_queue is None:
        raise RuntimeError("no contribution queue is configured")
    return d.contribution_queue


@operation(
    bp,
    "/v1/contributions",
    "POST",
    summary=(
        'Queue one contribution message, or {"contributions": [...]} with up to 100. Answered 202 '
        "once every message is valid and queued; each then posts once per contribution_id"
    ),
    callers=("collection_system",),
    request=ContributionsRequest,
    responses={202: QueuedAnswer},
    errors=(400, 401, 403, 409, 422, 503),
    headers=("Idempotency-Key",),
)
def queue_contributions() -> Response:
    request = bp.current_request
    system = require_institution(request, InstitutionKind.COLLECTION_SYSTEM)

    def run() -> Response:
        messages = _messages(request)
        d = deps()
        _validate(messages, d)
        _queue(d).send(
            [
                QueuedContribution(
                    m.contribution_id, m.model_dump_json(exclude_none=True), system.institution_id
                )
                for m in messages
            ]
        )
        return answer(
            QueuedAnswer(queued=len(messages), contribution_ids=[m.contribution_id for m in messages]),
            status=202,
        )

    return idempotent(request, system.institution_id, run)


def _messages(request: Request) -> list[ContributionMessage]:
    data = json_body(request)
    if isinstance(data, dict) and "contributions" in data:
        return parse(request, ContributionBatch).contributions
    return [parse(request, ContributionMessage)]


def _validate(messages: list[ContributionMessage], d: Deps) -> None:
    """The checks the schema cannot make (check character, dates), all at once, before queueing."""
    at = d.clock()
    errors: list[tuple[str, DomainError]] = []
    for i, message in enumerate(messages):
        try:
            contributions.validate(message.model_dump(), at)
        except DomainError as exc:
            errors.append((f"contributions.{i}" if len(messages) > 1 else "", exc))
    if errors:
        slug, title = (errors[0][1].slug, errors[0][1].title) if len(errors) == 1 else _INVALID
        raise Problem(
            422,
            slug,
            title,
            errors[0][1].detail if len(errors) == 1 else f"{len(errors)} contributions are not valid",
            extra={"errors": [{"field": f, "message": e.detail, "type": e.slug} for f, e in errors]},
        )
    repeated = contributions.repeated_ids([m.contribution_id for m in messages])
    if repeated:
        raise Problem(
            422,
            *_INVALID,
            f"A contribution_id appears more than once in the request: {', '.join(repeated[:5])}",
        )


_INVALID = ("invalid-contribution", "The contribution message is not valid")


# --- the holder's own ---------------------------------------------------------------


@operation(
    bp,
    "/v1/me/contributions",
    "GET",
    summary=(
        "The holder's contribution history: per month and insurance type, what was paid, to which "
        "fund book, and the personal-account share; newest first, paged with ?cursor= and ?limit="
    ),
    callers=("mobile",),
    responses={200: MyContributionsAnswer},
    errors=(401, 403, 422, 503),
)
def my_contributions() -> Response:
    request = bp.current_request
    person_id = require_holder(request)
    params = _query(request)
    limit = _limit(params.get("limit"))
    before = _decode_cursor(params.get("cursor"))
    records, last = contributions.history(_store(deps()), person_id, limit, before)
    return answer(
        MyContributionsAnswer(
            contributions=[
                ContributionMonthView(
                    period=str(r.period),
                    insurance=r.insurance.value,
                    book=r.book.value,
                    amount_fen=r.amount_fen,
                    postings=r.postings,
                    personal_account_fen=r.personal_account_fen,
                    paid_on=list(r.paid_on),
                    contribution_ids=list(r.contribution_ids),
                )
                for r in records
            ],
            next_cursor=_encode_cursor(last),
        )
    )


@operation(
    bp,
    "/v1/me/coverage",
    "GET",
    summary=(
        "The holder's coverage on a date (?on=YYYY-MM-DD, default today): per insurance type the "
        "months paid, the first payment and continuity; and serious-illness eligibility"
    ),
    callers=("mobile",),
    responses={200: MyCoverageAnswer},
    errors=(401, 403, 422, 503),
)
def my_coverage() -> Response:
    request = bp.current_request
    person_id = require_holder(request)
    d = deps()
    params = _query(request)
    on = _date(params.get("on")) or china_date(d.clock())
    policy = contributions.load_policy(settings().contribution_policy)
    report = contributions.coverage_of(_store(d), person_id, on, policy)
    si = report.serious_illness
    return answer(
        MyCoverageAnswer(
            on=report.on,
            coverage=[
                CoverageView(
                    insurance=c.insurance.value,
                    book=BOOK_OF[c.insurance].value,
                    insured=c.insured,
                    months_paid=c.months_paid,
                    first_paid_on=c.first_paid_on,
                    first_period=_text(c.first_period),
                    last_period=_text(c.last_period),
                    continuous_since=_text(c.continuous_since),
                    missing_months=[str(p) for p in c.missing],
                )
                for c in report.types
            ],
            serious_illness=SeriousIllnessView(
                eligible=si.eligible,
                reason=si.reason,
                waiting_since=si.waiting_since,
                eligible_from=si.eligible_from,
            ),
        )
    )


def _query(request: Request) -> dict[str, str]:
    return {k: str(v) for k, v in (request.query_params or {}).items()}


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _invalid_query(detail: str) -> Problem:
    return Problem(422, "invalid-request", "The request is not valid", detail)


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise _invalid_query(f"limit is a whole number from 1 to {MAX_PAGE}")
    return int(raw)


def _date(raw: str | None) -> date | None:
    if raw is None:
        return None
    try:
        if len(raw) != 10:
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise _invalid_query("on is a date written YYYY-MM-DD") from None


def _encode_cursor(month_key: str | None) -> str | None:
    return base64.urlsafe_b64encode(month_key.encode()).decode().rstrip("=") if month_key else None


def _decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        key = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        key = ""
    if not _MONTH_KEY.match(key):
        raise _invalid_query("The cursor is not one this service gave")
    return key
