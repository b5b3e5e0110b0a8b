"""Domain errors. Each kind has a stable slug; the API maps it to a problem type URI."""

from __future__ import annotations


class DomainError(Exception):
    """A rule said no. `slug` is stable and becomes the problem `type`."""

    slug = "domain-error"
    title = "The request breaks a rule of the service"

    def __init__(self, detail: str = "", **extra: object) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class InvalidInput(DomainError):
    slug = "invalid-request"
    title = "The request is not valid"


class InvalidSsn(InvalidInput):
    slug = "invalid-ssn"
    title = "The social security number is not a valid citizen ID"


class InvalidCardNumber(InvalidInput):
    slug = "invalid-card-number"
    title = "The card number is not valid"


class NotFound(DomainError):
    slug = "not-found"
    title = "No such resource"


class CardNotFound(NotFound):
    slug = "card-not-found"
    title = "No such card"


class HolderNotFound(NotFound):
    slug = "holder-not-found"
    title = "No such holder"


class InstitutionNotFound(NotFound):
    slug = "institution-not-found"
    title = "No such institution"


class CardNotActivated(DomainError):
    slug = "card-not-activated"
    title = "The card has not been activated"


class CardSuspended(DomainError):
    slug = "card-suspended"
    title = "The card is suspended"


class CardUnusable(DomainError):
    slug = "card-unusable"
    title = "The card can no longer be used"


class TransitionNotAllowed(DomainError):
    slug = "card-transition-not-allowed"
    title = "The card cannot make this change from its current state"


class SsnMismatch(DomainError):
    slug = "ssn-mismatch"
    title = "The social security number is not the card holder's"


class NotIssuingBank(DomainError):
    slug = "not-issuing-bank"
    title = "Only the card's issuing bank may activate it at its counter"


class NotDesignated(DomainError):
    slug = "institution-not-designated"
    title = "The institution is not a designated medical-insurance institution"


class AccountHeld(DomainError):
    slug = "account-held"
    title = "The personal account is held until the new card is activated"


class PreviousCardInvalid(DomainError):
    slug = "previous-card-invalid"
    title = "The previous medical insurance card cannot carry its account over"


class AlreadyExists(DomainError):
    slug = "already-exists"
    title = "It exists already"


class ConcurrentUpdate(DomainError):
    """Someone else changed the same thing first; re-read and decide again."""

    slug = "concurrent-update"
    title = "The resource was changed concurrently"


class DuplicateDelivery(DomainError):
    """A message or webhook id seen before: its first effect stands."""

    slug = "duplicate-delivery"
    title = "Already processed"


class InvalidContribution(InvalidInput):
    slug = "invalid-contribution"
    title = "The contribution message is not valid"


class ContributionIneligible(DomainError):
    """The holder may not make this contribution (participation, payer or working age)."""

    slug = "contribution-ineligible"
    title = "The holder is not eligible for this contribution"


class ContributionIdReused(DomainError):
    """A contribution_id that posted before, sent again with another body: it changes nothing."""

    slug = "contribution-id-reused"
    title = "The contribution_id was posted before with another body"


class StorageBusy(DomainError):
    """Throttled or conflicting: safe to retry later."""

    slug = "temporarily-unavailable"
    title = "The service is busy; retry later"
