"""Contribution endpoints: collection systems queue contributions; the mobile app reads its own."""

from __future__ import annotations

import re

from chalice.app import Blueprint
from pydantic import Field

from chalicelib.domain.contributions import BOOK_OF
from chalicelib.domain.errors import DomainError, InvalidContribution, NotFound
from chalicelib.domain.holders import InstitutionKind
from chalicelib.domain.identifiers import parse_day
from chalicelib.domain.periods import china_date
from chalicelib.services import contributions
from chalicelib.services.contribution_ports import QueuedContribution

from .auth import MOBILE
from .contribution_schemas import (
    ContributionMessage,
    ContributionMonthView,
    ContributionsRequest,
    ContributionStatusAnswer,
    CoverageView,
    MyContributionsAnswer,
    MyCoverageAnswer,
    QueuedAnswer,
    SeriousIllnessView,
)
from .operations import Call, operation
from .params import Query, WholeNumber

bp = Blueprint(__name__)
DEFAULT_PAGE = 50
MAX_PAGE = 200
# A holder's month page key: the month and the insurance type (storage/contributions.py).
MONTH_PAGE_KEY = re.compile(r"[0-9]{4}-[0-9]{2}#[a-z_]{1,32}")


class MyContributionsQuery(Query):
    limit: WholeNumber = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    cursor: str | None = Field(
        default=None, min_length=1, max_length=200, description="The previous page's next_cursor"
    )


class CoverageQuery(Query):
    on: str | None = Field(
        default=None,
        pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
        description="The day, YYYY-MM-DD (China time); default today",
    )


@operation(
    bp,
    "/v1/contributions",
    "POST",
    summary=(
        'Queue one contribution message, or {"contributions": [...]} with up to 100. Answered 202 '
        "once every message is valid and queued; each then posts once per contribution_id. No "
        "Idempotency-Key is needed: a retried batch is queued again and each message still posts "
        "once, by its contribution_id"
    ),
    callers=(InstitutionKind.COLLECTION_SYSTEM.value,),
    body=ContributionsRequest,
    responses={202: QueuedAnswer},
)
def queue_contributions(call: Call[ContributionsRequest, None]) -> QueuedAnswer:
    messages = call.body.messages()
    d = call.deps
    _validate(messages, call)
    system_id = call.institution.institution_id
    d.contribution_queue.send(
        [
            QueuedContribution(m.contribution_id, m.model_dump_json(exclude_none=True), system_id)
            for m in messages
        ]
    )
    return QueuedAnswer(queued=len(messages), contribution_ids=[m.contribution_id for m in messages])


class ContributionNotFound(NotFound):
    slug = "contribution-not-found"
    title = "No such contribution of yours has posted or been rejected yet"


@operation(
    bp,
    "/v1/contributions/{contribution_id}",
    "GET",
    summary=(
        "A contribution you sent: posted, or rejected with its reason (contribution-id-reused for an "
        "id sent again with another body). 404 while it is neither yet, and for another system's id"
    ),
    callers=(InstitutionKind.COLLECTION_SYSTEM.value,),
    responses={200: ContributionStatusAnswer},
    errors=(404,),
)
def contribution_status(call: Call[None, None], contribution_id: str) -> ContributionStatusAnswer:
    found = contributions.contribution_status(
        call.deps.contributions, contribution_id, call.institution.institution_id
    )
    if found.state is contributions.ContributionState.UNKNOWN:
        raise ContributionNotFound(f"{contribution_id} has not posted or been rejected (yet)")
    return ContributionStatusAnswer(
        contribution_id=found.contribution_id,
        status="posted" if found.state is contributions.ContributionState.POSTED else "rejected",
        reason=found.reason,
        detail=found.detail,
        posted_at=found.posted_at,
    )


def _validate(messages: list[ContributionMessage], call: Call[ContributionsRequest, None]) -> None:
    """The checks the schema cannot make (check character, dates), all at once, before queueing."""
    at = call.deps.clock()
    errors: list[tuple[str, DomainError]] = []
    for i, message in enumerate(messages):
        try:
            contributions.validate(message.model_dump(), at)
        except DomainError as exc:
            errors.append((f"contributions.{i}" if len(messages) > 1 else "", exc))
    listed = [{"field": f, "message": e.detail, "type": e.slug} for f, e in errors]
    if len(errors) == 1:
        only = errors[0][1]
        only.extra["errors"] = listed
        raise only
    if errors:
        raise InvalidContribution(f"{len(errors)} contributions are not valid", errors=listed)
    repeated = contributions.repeated_ids([m.contribution_id for m in messages])
    if repeated:
        raise InvalidContribution(
            f"A contribution_id appears more than once in the request: {', '.join(repeated[:5])}"
        )


# --- the holder's own ---------------------------------------------------------------


@operation(
    bp,
    "/v1/me/contributions",
    "GET",
    summary=(
        "The holder's contribution history: per month and insurance type, what was paid, to which "
        "fund book, and the personal-account share; newest first, paged by limit and cursor"
    ),
    callers=(MOBILE,),
    query=MyContributionsQuery,
    page_key=MONTH_PAGE_KEY,
    responses={200: MyContributionsAnswer},
)
def my_contributions(call: Call[None, MyContributionsQuery]) -> MyContributionsAnswer:
    assert call.page is not None
    records, last = contributions.history(
        call.deps.contributions, call.person_id, call.page.limit, call.page.after
    )
    return MyContributionsAnswer(
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
        next_cursor=call.page.next_cursor(last),
    )


@operation(
    bp,
    "/v1/me/coverage",
    "GET",
    summary=(
        "The holder's coverage on a date (on=YYYY-MM-DD, default today): per insurance type the "
        "months paid, the first payment and continuity; and serious-illness eligibility"
    ),
    callers=(MOBILE,),
    query=CoverageQuery,
    responses={200: MyCoverageAnswer},
)
def my_coverage(call: Call[None, CoverageQuery]) -> MyCoverageAnswer:
    d = call.deps
    on = parse_day(call.query.on) if call.query.on else china_date(d.clock())
    report = contributions.coverage_of(d.contributions, call.person_id, on, d.contribution_policy)
    si = report.serious_illness
    return MyCoverageAnswer(
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


def _text(value: object) -> str | None:
    return None if value is None else str(value)
