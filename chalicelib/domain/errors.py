"""Domain errors. Each kind carries its stable slug (the problem `type`) and its HTTP status:
the API's problem table and the OpenAPI list of problem types are derived from these classes."""

from __future__ import annotations

from collections.abc import Iterator


class DomainError(Exception):
    """A rule said no. `slug` is stable and becomes the problem `type`; `status` its HTTP status.

    Every concrete kind must say its status (a subclass of a kind with one inherits it):
    a forgotten status fails at import, never as a silent 422 or 500.
    """

    slug: str
    title: str
    status: int

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for attribute in ("slug", "title", "status"):
            if not hasattr(cls, attribute):
                raise TypeError(f"{cls.__name__} must define {attribute}")

    def __init__(self, detail: str = "", **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


def error_kinds() -> Iterator[type[DomainError]]:
    """Every error kind defined so far (the modules that define them must be imported)."""
    pending: list[type[DomainError]] = list(DomainError.__subclasses__())
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        yield kind


class InvalidInput(DomainError):
    slug = "invalid-request"
    status = 422
    title = "The request is not valid"


class InvalidSsn(InvalidInput):
    slug = "invalid-ssn"
    title = "The social security number is not a valid citizen ID"


class InvalidCardNumber(InvalidInput):
    slug = "invalid-card-number"
    title = "The card number is not valid"


class NotFound(DomainError):
    slug = "not-found"
    status = 404
    title = "No such resource"


class CardNotFound(NotFound):
    slug = "card-not-found"
    title = "No such card"


class HolderNotFound(NotFound):
    slug = "holder-not-found"
    title = "No such holder"


class CardNotActivated(DomainError):
    slug = "card-not-activated"
    status = 409
    title = "The card has not been activated"


class CardSuspended(DomainError):
    slug = "card-suspended"
    status = 409
    title = "The card is suspended"


class CardUnusable(DomainError):
    slug = "card-unusable"
    status = 409
    title = "The card can no longer be used"


class TransitionNotAllowed(DomainError):
    slug = "card-transition-not-allowed"
    status = 409
    title = "The card cannot make this change from its current state"


class SsnMismatch(DomainError):
    slug = "ssn-mismatch"
    status = 422
    title = "The social security number is not the card holder's"


class NotIssuingBank(DomainError):
    slug = "not-issuing-bank"
    status = 403
    title = "Only the card's issuing bank may activate it at its counter"


class NotDesignated(DomainError):
    slug = "institution-not-designated"
    status = 403
    title = "The institution is not a designated medical-insurance institution"


class AccountHeld(DomainError):
    slug = "account-held"
    status = 409
    title = "The personal account is held until the new card is activated"


class PreviousCardInvalid(DomainError):
    slug = "previous-card-invalid"
    status = 422
    title = "The previous medical insurance card cannot carry its account over"


class AlreadyExists(DomainError):
    slug = "already-exists"
    status = 409
    title = "It exists already"


class ConcurrentUpdate(DomainError):
    """Someone else changed the same thing first; re-read and decide again."""

    slug = "concurrent-update"
    status = 503
    title = "The resource was changed concurrently"


class DuplicateDelivery(DomainError):
    """A message or webhook id seen before: its first effect stands."""

    slug = "duplicate-delivery"
    status = 409
    title = "Already processed"


class InvalidContribution(InvalidInput):
    slug = "invalid-contribution"
    title = "The contribution message is not valid"


class ContributionIneligible(DomainError):
    """The holder may not make this contribution (participation, payer or working age)."""

    slug = "contribution-ineligible"
    status = 422
    title = "The holder is not eligible for this contribution"


class ContributionIdReused(DomainError):
    """A contribution_id that posted before, sent again with another body: it changes nothing."""

    slug = "contribution-id-reused"
    status = 422
    title = "The contribution_id was posted before with another body"


class StorageBusy(DomainError):
    """Throttled or conflicting: safe to retry later."""

    slug = "temporarily-unavailable"
    status = 503
    title = "The service is busy; retry later"


class InvalidCursor(InvalidInput):
    slug = "invalid-cursor"
    title = "The cursor is not one this service gave"
