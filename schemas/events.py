"""Case events (CONTRACT §1): the envelope, one model per type, and the discriminated union.

Parsing is strict: unknown fields are rejected, SSDA903 codes are checked against :mod:`schemas.codes`,
impossible values (a birth after the event, an SDQ outside 0–40, an event dated more than a day after it
was received) are rejected with the field path. Time is never read from a clock here: the receive time is
passed in by the caller through the validation context.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from schemas import cin_codes, codes
from schemas.dates import add_years

LONDON: Final = ZoneInfo("Europe/London")
MAX_FUTURE_SKEW: Final = timedelta(days=1)
MAX_CARE_START_AGE_YEARS: Final = 18
EARLIEST_YEAR: Final = 1900
LATEST_YEAR: Final = 2100
"""Dates and datetimes outside these years (inclusive) are refused: the calendar and the time-zone
arithmetic of the rules are defined on this range, and nothing in a child's care falls outside it."""

# C0 controls (NUL, ESC, newlines and tabs inside a value…), DEL, C1 controls and lone UTF-16 surrogates:
# none belongs in an identifier or a team name, and some (NUL, surrogates) cannot be stored in SQL at all.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _no_control_characters(value: str) -> str:
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(
            f"control character U+{ord(found.group()):04X} at position {found.start()} is not allowed in text"
        )
    return value


def _in_year_range(value: date) -> date:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(
            f"year {value.year} is outside the accepted range {EARLIEST_YEAR}–{LATEST_YEAR} "
            f"(dates and datetimes must fall in {EARLIEST_YEAR}-01-01 to {LATEST_YEAR}-12-31)"
        )
    return value


Text = Annotated[str, AfterValidator(_no_control_characters)]
"""A free-text string: any printable character, no control characters."""


def _code(code_list: Mapping[str, str], list_name: str) -> Any:
    """A string constrained to one SSDA903 code list, with a readable error and a JSON Schema enum."""

    def check(value: str) -> str:
        if value not in code_list:
            raise ValueError(f"unknown {list_name} code {value!r} (SSDA903 {list_name} list)")
        return value

    return Annotated[
        str,
        AfterValidator(check),
        WithJsonSchema({"type": "string", "enum": sorted(code_list), "description": f"SSDA903 {list_name}"}),
    ]


if TYPE_CHECKING:  # to the type checker each is a str; at run time a validated, documented str
    LegalStatus: TypeAlias = str
    PlacementType: TypeAlias = str
    PlacementProvider: TypeAlias = str
    ReasonPlaceChange: TypeAlias = str
    SwChangeReason: TypeAlias = str
    CareEndedReason: TypeAlias = str
    Activity: TypeAlias = str
    Accommodation: TypeAlias = str
else:
    LegalStatus = _code(codes.LEGAL_STATUS, "legal status")
    PlacementType = _code(codes.PLACEMENT_TYPE, "placement type")
    PlacementProvider = _code(codes.PLACEMENT_PROVIDER, "placement provider")
    ReasonPlaceChange = _code(codes.REASON_PLACE_CHANGE, "reason for placement change")
    SwChangeReason = _code(codes.SW_CHANGE_REASON, "reason for social worker change")
    CareEndedReason = _code({c: codes.REASON_EPISODE_CEASED[c] for c in codes.CARE_ENDED_REASONS}, "reason ceased")
    Activity = _code(codes.ACTIVITY, "activity")
    Accommodation = _code(codes.ACCOMMODATION, "accommodation")

PSEUDONYM_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
Pseudonym = Annotated[str, Field(pattern=PSEUDONYM_PATTERN)]
EventId = Annotated[Text, Field(min_length=1, max_length=64)]
TeamName = Annotated[Text, Field(min_length=1, max_length=64)]
BoundedDate = Annotated[date, AfterValidator(_in_year_range)]

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_when(value: Any) -> Any:
    """ISO date stays a date; an ISO datetime without offset is taken as Europe/London local time."""
    if isinstance(value, str):
        text = value.strip()
        if _DATE_ONLY.match(text):
            return date.fromisoformat(text)
        try:
            value = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValueError(f"not an ISO date or datetime: {text!r}") from exc
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=LONDON)
    return value


def _parse_instant(value: Any) -> Any:
    parsed = parse_when(value)
    if type(parsed) is date:
        raise ValueError("a datetime is required here, not a date")
    return parsed


When = Annotated[
    datetime | date,
    BeforeValidator(parse_when),
    AfterValidator(_in_year_range),
    WithJsonSchema(
        {
            "type": "string",
            "description": (f"ISO date or datetime; Europe/London if no offset; years {EARLIEST_YEAR}–{LATEST_YEAR}"),
        }
    ),
]
Instant = Annotated[datetime, BeforeValidator(_parse_instant), AfterValidator(_in_year_range)]


def local_date(when: date) -> date:
    """The calendar date in England of a date or datetime (the date the rules use)."""
    if isinstance(when, datetime):
        return when.astimezone(LONDON).date()
    return when


def as_instant(when: date) -> datetime:
    """A date taken as midnight in England; a datetime as itself."""
    if isinstance(when, datetime):
        return when
    return datetime(when.year, when.month, when.day, tzinfo=LONDON)


class EventBase(BaseModel):
    """The envelope every event carries."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    event_id: EventId
    child_id: Pseudonym
    occurred_at: When
    recorded_at: Instant | None = None
    source: Annotated[Text, Field(max_length=64)] | None = None

    @property
    def occurred_on(self) -> date:
        return local_date(self.occurred_at)

    @model_validator(mode="after")
    def _not_from_the_future(self, info: ValidationInfo) -> EventBase:
        received_at = (info.context or {}).get("received_at")
        if received_at is not None and as_instant(self.occurred_at) > received_at + MAX_FUTURE_SKEW:
            raise ValueError(
                f"occurred_at {self.occurred_at.isoformat()} is more than a day after the event was received"
            )
        return self


class CareStarted(EventBase):
    type: Literal["care.started"]
    date_of_birth: BoundedDate
    sex: Literal["M", "F", "U"]
    legal_status: LegalStatus
    uasc: bool = False
    team: TeamName | None = None
    period_began_before_data: bool | None = None
    """True: the child was already looked after when this, the first episode in the data, began (SSDA903
    RNE other than S); the period's real start date is unknown and earlier than ``occurred_at``."""
    new_episode_reason: Annotated[str, Field(pattern=r"^[LPTBU]$")] | None = None
    """With ``period_began_before_data``: the SSDA903 RNE of that first episode (what changed that day)."""
    uasc_ceased_on: BoundedDate | None = None
    """The date the child's UASC status ceased (SSDA903 DUC), when known."""
    category_of_need: Literal["N1", "N2", "N3", "N4", "N5", "N6", "N7", "N8"] | None = None
    """SSDA903 CIN: the child's main need when they started to be looked after."""
    ethnicity: Annotated[str, Field(pattern=r"^[A-Z]{4}$")] | None = None
    """SSDA903 ETHNIC code (e.g. WBRI, NOBT), when known."""

    @model_validator(mode="after")
    def _plausible_age(self) -> CareStarted:
        started = self.occurred_on
        if self.date_of_birth > started:
            raise ValueError("date_of_birth is after the date care started")
        eighteenth = add_years(self.date_of_birth, MAX_CARE_START_AGE_YEARS)
        if started >= eighteenth:
            raise ValueError("a child cannot start to be looked after on or after their 18th birthday")
        return self


class CareEnded(EventBase):
    type: Literal["care.ended"]
    reason: CareEndedReason


class LegalStatusChanged(EventBase):
    type: Literal["legal_status.changed"]
    legal_status: LegalStatus


class PlacementStarted(EventBase):
    type: Literal["placement.started"]
    placement_type: PlacementType
    provider: PlacementProvider | None = None
    reason_for_change: ReasonPlaceChange | None = None
    distance_miles: Annotated[float, Field(ge=0, le=25_000)] | None = None
    intended_until_18: bool | None = None
    same_carer: bool | None = None
    """True: a change of placement with the same carer(s) (SSDA903 RNE T or U), not a move to new carers."""


class PepCompleted(EventBase):
    type: Literal["pep.completed"]
    kind: Literal["initial", "review"]


class HealthAssessmentCompleted(EventBase):
    type: Literal["health_assessment.completed"]
    kind: Literal["initial", "review"]


class DentalCheckCompleted(EventBase):
    type: Literal["dental_check.completed"]


class SdqRecorded(EventBase):
    type: Literal["sdq.recorded"]
    score: Annotated[int, Field(ge=0, le=40, strict=True)]


class SocialWorkerChanged(EventBase):
    type: Literal["social_worker.changed"]
    worker_id: Pseudonym
    team: TeamName | None = None
    employment: Literal["permanent", "agency"] | None = None
    change_reason: SwChangeReason | None = None
    """Why this social worker was allocated (SSDA903 SW_REASON), when known."""


class VisitCompleted(EventBase):
    type: Literal["visit.completed"]
    seen_alone: bool | None = None


class ReviewHeld(EventBase):
    type: Literal["review.held"]
    participation: Literal["PN0", "PN1", "PN2", "PN3", "PN4", "PN5", "PN6", "PN7"] | None = None


class MissingStarted(EventBase):
    type: Literal["missing.started"]
    episode_id: EventId
    kind: Literal["missing", "away"] | None = None
    """missing from placement (SSDA903 M) or away from placement without authorisation (A)."""


class MissingEnded(EventBase):
    type: Literal["missing.ended"]
    episode_id: EventId


class ReturnInterviewCompleted(EventBase):
    type: Literal["return_interview.completed"]
    episode_id: EventId


class CareLeaverContact(EventBase):
    type: Literal["care_leaver.contact"]
    in_touch: bool
    activity: Activity | None = None
    accommodation: Accommodation | None = None
    in_touch_code: Literal["YES", "NO", "DIED", "REFU", "NREQ", "RHOM"] | None = None
    """The SSDA903 IN_TOUCH code behind ``in_touch`` (NO, DIED, REFU, NREQ and RHOM are all not in touch)."""
    date_of_birth: BoundedDate | None = None
    """The young person's date of birth (OC3 rows cover care leavers aged 17–21, and 22–25 in touch)."""


class PathwayPlanReviewed(EventBase):
    type: Literal["pathway_plan.reviewed"]


class EventRetracted(EventBase):
    type: Literal["event.retracted"]
    retracted_event_id: EventId


class OutcomesRecorded(EventBase):
    """The SSDA903 OC2 outcomes of a child looked after for 12 months, for the year ending ``occurred_at``
    (31 March). Each item is true/false as recorded, or absent when the return gave no value (not false)."""

    type: Literal["outcomes.recorded"]
    convicted: bool | None = None
    health_check: bool | None = None
    immunisations: bool | None = None
    teeth_check: bool | None = None
    health_assessment: bool | None = None
    substance_misuse: bool | None = None
    intervention_received: bool | None = None
    intervention_offered: bool | None = None
    sdq_reason: Literal["SDQ1", "SDQ2", "SDQ3", "SDQ4", "SDQ5"] | None = None


# ---- children in need and child protection (CONTRACT §5) -------------------------------------------------


def _cin_code(code_list: Mapping[str, str], list_name: str) -> Any:
    """A string constrained to one CIN census code list (:mod:`schemas.cin_codes`)."""

    def check(value: str) -> str:
        if value not in code_list:
            raise ValueError(f"unknown {list_name} code {value!r} (CIN census {list_name} list)")
        return value

    return Annotated[
        str,
        AfterValidator(check),
        WithJsonSchema({"type": "string", "enum": sorted(code_list), "description": f"CIN census {list_name}"}),
    ]


if TYPE_CHECKING:
    ReferralSource: TypeAlias = str
    PrimaryNeed: TypeAlias = str
    ReasonForClosure: TypeAlias = str
    CategoryOfAbuse: TypeAlias = str
    AssessmentFactor: TypeAlias = str
else:
    ReferralSource = _cin_code(cin_codes.REFERRAL_SOURCE, "referral source")
    PrimaryNeed = _cin_code(cin_codes.PRIMARY_NEED, "primary need")
    ReasonForClosure = _cin_code(cin_codes.REASON_FOR_CLOSURE, "reason for closure")
    CategoryOfAbuse = _cin_code(cin_codes.CATEGORY_OF_ABUSE, "category of abuse")
    AssessmentFactor = _cin_code(cin_codes.ASSESSMENT_FACTORS, "assessment factor")

Team = Annotated[str, Field(min_length=1, max_length=64)]


EVENT_FORMAT_VERSION: Final = "1.1.0"
"""The event format's version (AsyncAPI ``info.version``). 1.1.0: ``referral.received``'s ``source`` renamed
``referral_source`` (the 1.0.0 form still accepted on input)."""


def _referral_source_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema of both forms: ``referral_source`` (since 1.1.0), or the 1.0.0 form with the code in
    ``source`` (then a referral source code, not a sending system)."""
    properties = schema.get("properties", {})
    required = [name for name in schema.get("required", []) if name != "referral_source"]
    schema["required"] = required
    schema["anyOf"] = [
        {"required": ["referral_source"]},
        {
            "required": ["source"],
            "not": {"required": ["referral_source"]},
            "properties": {"source": {"enum": properties["referral_source"]["enum"]}},
        },
    ]


class ReferralReceived(EventBase):
    """A referral to children's social care (the start of a CIN census episode).

    ``referral_source`` (CIN census ReferralSource) was called ``source`` up to event format 1.0.0, where it
    clashed with the envelope's ``source`` (the sending system). Since 1.1.0 the envelope's ``source`` keeps
    its meaning here too; an event with no ``referral_source`` is read in the 1.0.0 form: its ``source`` is
    the referral source code (and no sending system is known). Errors then name ``referral_source``.
    """

    model_config = ConfigDict(json_schema_extra=_referral_source_schema)

    type: Literal["referral.received"]
    referral_id: EventId
    referral_source: ReferralSource = Field(
        description="CIN census ReferralSource code (since 1.1.0; before it sent as `source`)"
    )
    primary_need: PrimaryNeed | None = None
    team: Team | None = None
    date_of_birth: date | None = Field(
        default=None, description="Optional; may be an expected date of birth (unborn child)"
    )
    sex: Literal["M", "F", "U"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _read_1_0_form(cls, data: Any) -> Any:
        """The 1.0.0 form: no ``referral_source``, the code in ``source``."""
        if isinstance(data, Mapping) and "referral_source" not in data and "source" in data:
            data = dict(data)
            data["referral_source"] = data.pop("source")
        return data


class ReferralOutcome(EventBase):
    type: Literal["referral.outcome"]
    referral_id: EventId
    outcome: Literal["no_further_action", "assessment", "early_help", "strategy_discussion", "other"]


class AssessmentStarted(EventBase):
    type: Literal["assessment.started"]
    assessment_id: EventId
    referral_id: EventId


class AssessmentCompleted(EventBase):
    """An assessment authorised; ``factors`` as identified at assessment (CIN census codes)."""

    type: Literal["assessment.completed"]
    assessment_id: EventId
    referral_id: EventId
    child_in_need: bool
    factors: Annotated[tuple[AssessmentFactor, ...], Field(max_length=len(cin_codes.ASSESSMENT_FACTORS))] | None = None

    @model_validator(mode="after")
    def _factors_consistent(self) -> AssessmentCompleted:
        factors = self.factors or ()
        if len(set(factors)) != len(factors):
            raise ValueError("factors lists a code more than once")
        if cin_codes.NO_FACTORS in factors and len(factors) > 1:
            raise ValueError("factor 21 (no factors identified) must be used alone")
        return self


class S47Started(EventBase):
    """A section 47 enquiry started (the strategy discussion that initiated it)."""

    type: Literal["s47.started"]
    enquiry_id: EventId


class S47Completed(EventBase):
    type: Literal["s47.completed"]
    enquiry_id: EventId
    outcome: Literal["icpc", "no_further_action", "cin_plan", "other"]


class IcpcHeld(EventBase):
    """The initial child protection conference of an enquiry."""

    type: Literal["icpc.held"]
    enquiry_id: EventId
    plan_decided: bool


class CpPlanStarted(EventBase):
    type: Literal["cp_plan.started"]
    plan_id: EventId
    category: CategoryOfAbuse
    previous_plans: Annotated[int, Field(ge=0, le=50, strict=True)] | None = Field(
        default=None, description="Number of previous child protection plans (CIN census NumberOfPreviousCPP)"
    )


class CpPlanEnded(EventBase):
    type: Literal["cp_plan.ended"]
    plan_id: EventId
    reason: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class CpReviewHeld(EventBase):
    """A child protection review conference."""

    type: Literal["cp_review.held"]
    plan_id: EventId


class CpVisitCompleted(EventBase):
    """A statutory visit to a child subject to a child protection plan."""

    type: Literal["cp_visit.completed"]
    plan_id: EventId
    seen_alone: bool | None = None


class CinPlanStarted(EventBase):
    type: Literal["cin_plan.started"]
    plan_id: EventId


class CinPlanEnded(EventBase):
    type: Literal["cin_plan.ended"]
    plan_id: EventId


class CaseClosed(EventBase):
    """The episode of need closed (CIN census CINclosureDate with its reason)."""

    type: Literal["case.closed"]
    reason: ReasonForClosure


CIN_EVENT_MODELS: Final[tuple[type[EventBase], ...]] = (
    ReferralReceived,
    ReferralOutcome,
    AssessmentStarted,
    AssessmentCompleted,
    S47Started,
    S47Completed,
    IcpcHeld,
    CpPlanStarted,
    CpPlanEnded,
    CpReviewHeld,
    CpVisitCompleted,
    CinPlanStarted,
    CinPlanEnded,
    CaseClosed,
)


EVENT_MODELS: Final[tuple[type[EventBase], ...]] = (
    CareStarted,
    CareEnded,
    LegalStatusChanged,
    PlacementStarted,
    PepCompleted,
    HealthAssessmentCompleted,
    DentalCheckCompleted,
    SdqRecorded,
    SocialWorkerChanged,
    VisitCompleted,
    ReviewHeld,
    MissingStarted,
    MissingEnded,
    ReturnInterviewCompleted,
    CareLeaverContact,
    PathwayPlanReviewed,
    EventRetracted,
    OutcomesRecorded,
    *CIN_EVENT_MODELS,
)

CaseEvent = Annotated[
    CareStarted
    | CareEnded
    | LegalStatusChanged
    | PlacementStarted
    | PepCompleted
    | HealthAssessmentCompleted
    | DentalCheckCompleted
    | SdqRecorded
    | SocialWorkerChanged
    | VisitCompleted
    | ReviewHeld
    | MissingStarted
    | MissingEnded
    | ReturnInterviewCompleted
    | CareLeaverContact
    | PathwayPlanReviewed
    | EventRetracted
    | OutcomesRecorded
    | ReferralReceived
    | ReferralOutcome
    | AssessmentStarted
    | AssessmentCompleted
    | S47Started
    | S47Completed
    | IcpcHeld
    | CpPlanStarted
    | CpPlanEnded
    | CpReviewHeld
    | CpVisitCompleted
    | CinPlanStarted
    | CinPlanEnded
    | CaseClosed,
    Field(discriminator="type"),
]
EVENT_TYPES: Final = tuple(model.model_fields["type"].annotation.__args__[0] for model in EVENT_MODELS)  # type: ignore[union-attr]
EVENT_ADAPTER: Final[TypeAdapter[CaseEvent]] = TypeAdapter(CaseEvent)


class ClockTick(BaseModel):
    """Time as an event: 'evaluate every clock that has run out by ``as_of``'.

    Not accepted from outside (ingest rejects it); the scheduler, the demo and replay write it to every
    partition of the case-events topic, so replaying events and ticks gives the same alerts as live.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["clock.tick"] = "clock.tick"
    as_of: date


def parse_event(data: bytes | str | Mapping[str, Any], *, received_at: datetime | None) -> CaseEvent:
    """Validate one event (JSON text or a decoded object); raises ``pydantic.ValidationError``.

    ``received_at`` is when carewatch received it; None skips the 'not from the future' check (history
    replayed from a file has no meaningful receive time).
    """
    context = {"received_at": received_at}
    if isinstance(data, bytes | str):
        return EVENT_ADAPTER.validate_json(data, context=context)
    return EVENT_ADAPTER.validate_python(data, context=context)


def event_to_json(event: EventBase) -> dict[str, Any]:
    """The event as a JSON-ready dict, without unset optional fields (stable on the wire)."""
    return event.model_dump(mode="json", exclude_none=True)
