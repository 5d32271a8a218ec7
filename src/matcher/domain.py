"""Records and their validation: the data contract shared by the CLI, the service and the job.

Field names are English, content is French. Unknown fields are rejected; an absent optional
field means "no constraint" (for a profile) or "unknown" (for an opportunity), never a fit.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from matcher.areas import resolve_department, resolve_region
from matcher.errors import InvalidRecord, LocationUnresolved
from matcher.taxonomy import FAMILIES, Taxonomy

MAX_DESCRIPTION_CHARS = 20_000
MAX_PROJECT_CHARS = 5_000
MAX_TITLE_CHARS = 200

#: French names accepted for each kind besides its code; matched without regard to case,
#: accents, spaces or punctuation (« Tiers lieu » is « tiers-lieu »). Records store the code.
KIND_ALIASES: dict[str, str] = {
    "offre d'activité": "activity",
    "activité": "activity",
    "installation": "activity",
    "reprise": "takeover",
    "reprise d'entreprise": "takeover",
    "cession": "takeover",
    "tiers-lieu": "coworking",
    "espace de coworking": "coworking",
    "espace de coworking / tiers-lieu": "coworking",
}


def _folded(text: str) -> str:
    """Lower case, no accents, punctuation as single spaces: « Tiers-Lieu » -> "tiers lieu"."""
    bare = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", bare.lower()).split())


STATUS_ALIASES: dict[str, str] = {
    "publiée": "published",
    "publié": "published",
    "en ligne": "published",
    "brouillon": "draft",
    "archivée": "archived",
    "archivé": "archived",
}
VERDICT_ALIASES: dict[str, str] = {
    "intéressé": "interested",
    "intéressée": "interested",
    "intéressé·e": "interested",
    "ça m'intéresse": "interested",
    "pas pertinent": "not_relevant",
    "pas pertinente": "not_relevant",
    "non pertinent": "not_relevant",
    "contacté": "contacted",
    "contactée": "contacted",
    "contacté·e": "contacted",
}


def _aliased(codes: tuple[str, ...], aliases: dict[str, str]) -> BeforeValidator:
    """A validator reading the French names of an enumeration as its codes; unknown names pass
    through unchanged, so that the error quotes what the record said."""
    lookup = {_folded(name): code for name, code in aliases.items()} | {code: code for code in codes}
    return BeforeValidator(
        lambda value: lookup.get(_folded(value), value) if isinstance(value, str) else value
    )


Kind = Annotated[
    Literal["activity", "takeover", "coworking"],
    _aliased(("activity", "takeover", "coworking"), KIND_ALIASES),
]
Status = Annotated[
    Literal["draft", "published", "archived"], _aliased(("draft", "published", "archived"), STATUS_ALIASES)
]
Verdict = Annotated[
    Literal["interested", "not_relevant", "contacted"],
    _aliased(("interested", "not_relevant", "contacted"), VERDICT_ALIASES),
]

VERDICT_LABELS: dict[str, str] = {
    "interested": "Intéressé·e",
    "not_relevant": "Pas pertinent",
    "contacted": "Contacté·e",
}

KIND_LABELS: dict[str, str] = {
    "activity": "offre d'activité",
    "takeover": "reprise d'entreprise",
    "coworking": "espace de coworking / tiers-lieu",
}

#: A sector or trade as a person writes it (« boulangerie-pâtisserie », « santé », « J1506 »):
#: kept as written; matcher reads it as a family and a trade (``matcher.taxonomy``).
Label = Annotated[str, Field(min_length=1, max_length=120)]
ROME_PATTERN = r"^[A-N]\d{4}$"
RomeCode = Annotated[str, Field(pattern=ROME_PATTERN)]


def _known_family(code: str) -> str:
    if code not in FAMILIES:
        raise ValueError(f"famille de secteurs inconnue : {code!r} ; familles : {', '.join(FAMILIES)}")
    return code


#: A sector family code (``matcher.taxonomy.FAMILIES``); records carry it beside the label.
FamilyCode = Annotated[str, AfterValidator(_known_family)]
#: The vocabulary's tables (no encoder): every record reads its labels through them.
VOCABULARY = Taxonomy()
#: Validation context of records read back from the store.
STORED = {"stored": True}


def _stored(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("stored"))


#: Record ids and department codes, defined once: routes and the CLI derive their checks from these.
ID_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
DEPARTMENT_PATTERN = r"^(0[1-9]|[1-8]\d|9[0-5]|2A|2B|97[1-6])$"
REGION_PATTERN = r"^(0[1-46]|[1-9]\d)$"
RecordId = Annotated[str, Field(pattern=ID_PATTERN)]


def _area(resolve: Callable[[str], str]) -> BeforeValidator:
    """A validator reading a department or region written by code or by name as its code."""

    def read(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return resolve(value)
        except LocationUnresolved as error:
            raise ValueError(str(error)) from None

    return BeforeValidator(read)


#: « 26 », « Drôme », « drome », « 2a », « Corse-du-Sud » are all department 26 or 2A.
DepartmentCode = Annotated[str, _area(resolve_department), Field(pattern=DEPARTMENT_PATTERN)]
#: « 53 », « Bretagne », « PACA » are region codes (INSEE).
RegionCode = Annotated[str, _area(resolve_region), Field(pattern=REGION_PATTERN)]
Euros = Annotated[float, Field(ge=0, le=1e9)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]

_FLAG_WORDS = {"oui": True, "vrai": True, "non": False, "faux": False}


def _french_flag(value: Any) -> Any:
    # Besides what pydantic reads as a boolean (true/false, 1/0, yes/no...), oui/non, vrai/faux.
    return _FLAG_WORDS.get(value.strip().lower(), value) if isinstance(value, str) else value


Flag = Annotated[bool, BeforeValidator(_french_flag)]


def territory_key(territory: str) -> str:
    """How territory names compare: Unicode-normalised, invisible characters dropped, spaces
    collapsed, case ignored (« CC  Creuse Grand Sud » is « cc creuse grand sud »)."""
    text = unicodedata.normalize("NFKC", territory)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")  # zero-width and the like
    return " ".join(text.split()).casefold()


#: The organisation of a holder whose record names none (and of the counsellors' accounts that
#: existed before organisations did): only admins see such holders until one is named.
DEFAULT_ORGANISATION = "Sans organisation"


def organisation_key(organisation: str) -> str:
    """How organisation names compare: like territories (« BGE  paris » is « BGE Paris »)."""
    return territory_key(organisation)


def _canonical_territory(territory: str) -> str:
    """A territory name as stored: Unicode-normalised, invisible characters dropped, spaces
    collapsed; its case is kept as written."""
    text = unicodedata.normalize("NFC", territory)
    return " ".join("".join(c for c in text if unicodedata.category(c) != "Cf").split())


def _french_phone(number: str) -> str:
    """« 05 55 66 77 88 », « +33 (0)5 55 66 77 88 », « 0555667788 », « 05.55.66.77.88 » are one
    number, stored as « 05 55 66 77 88 »; overseas numbers keep their country code."""
    digits = re.sub(r"[\s.\-/()]", "", number.replace("(0)", ""))
    if re.fullmatch(r"(\+|00)33\d{9}", digits):
        digits = "0" + digits[-9:]
    if re.fullmatch(r"0[1-9]\d{8}", digits):
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    if re.fullmatch(r"(\+|00)(262|269|508|590|594|596|687|689)\d{6,9}", digits):
        return "+" + digits.lstrip("+").removeprefix("00")
    raise ValueError(
        f"numéro de téléphone invalide : {number!r} ; format attendu 05 55 66 77 88 ou +33 5 55 66 77 88"
    )


PhoneNumber = Annotated[str, AfterValidator(_french_phone), Field(max_length=30)]

TerritoryName = Annotated[str, AfterValidator(_canonical_territory), Field(min_length=1, max_length=200)]


class Contract(BaseModel):
    """Base of every record: unknown fields are an error, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Location(Contract):
    """Where an opportunity is; any one of lat/lon, INSEE code, postcode or commune name."""

    commune: ShortText | None = None
    postcode: Annotated[str, Field(pattern=r"^\d{5}$")] | None = None
    insee: Annotated[str, Field(pattern=r"^(\d{5}|2[AB]\d{3})$")] | None = None
    department: DepartmentCode | None = None
    lat: Annotated[float, Field(ge=-90, le=90)] | None = None
    lon: Annotated[float, Field(ge=-180, le=180)] | None = None

    @model_validator(mode="after")
    def _lat_lon_together(self) -> Location:
        if (self.lat is None) != (self.lon is None):
            raise ValueError("lat et lon vont ensemble : donnez les deux ou aucun")
        if not any((self.commune, self.postcode, self.insee, self.lat is not None)):
            raise ValueError("indiquez au moins lat/lon, un code INSEE, un code postal ou une commune")
        return self

    @property
    def is_resolved(self) -> bool:
        return self.lat is not None and self.department is not None


class Counsellor(Contract):
    """The urban support counsellor following a holder."""

    name: ShortText | None = None
    email: Email | None = None
    organisation: ShortText | None = None


class Opportunity(Contract):
    """An offer published by a rural territory."""

    id: RecordId
    kind: Kind
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS)]
    description: Annotated[str, Field(min_length=1, max_length=MAX_DESCRIPTION_CHARS)]
    #: The sector as written; ``sector_family`` and ``trade_code`` are what matcher read in it
    #: (computed on intake: a value sent for them is replaced).
    sector: Label | None = None
    sector_family: FamilyCode | None = None
    trade: Label | None = None
    trade_code: RomeCode | None = None
    territory: TerritoryName
    location: Location
    price_eur: Euros | None = None
    revenue_eur: Euros | None = None
    staff: Annotated[int, Field(ge=0, le=100_000)] | None = None
    housing: Flag = False
    remote_friendly: Flag = False
    tags: Annotated[list[Annotated[str, Field(min_length=1, max_length=60)]], Field(max_length=30)] = []
    available_from: date | None = None
    # The listing's closing date; it may precede available_from (apply by March, start in
    # September).
    expires_on: date | None = None
    contact_name: ShortText | None = None
    contact_phone: PhoneNumber | None = None
    contact_email: Email | None = None
    status: Status = "published"

    @classmethod
    def from_stored(cls, payload: dict[str, Any]) -> Opportunity:
        """A stored record: validated, its labels already read when it was written."""
        return cls.model_validate(payload, context=STORED)

    @model_validator(mode="after")
    def _read_labels(self, info: ValidationInfo) -> Opportunity:
        """The family and trade the labels name (tables only; intake adds the embedding fallback).

        The trade: the one given, else the one the title names, else the sector label's. A
        family or trade sent with nothing to derive it from is kept. A stored record read back
        is not read again (a record of an earlier release only gets the family of its code).
        """
        if _stored(info):
            if self.sector_family is None and self.sector in FAMILIES:
                self.sector_family = self.sector
            return self
        sector = VOCABULARY.classify(self.sector) if self.sector else None
        trade = VOCABULARY.classify(self.trade).trade if self.trade else None
        if trade is None and not self.trade:
            named = VOCABULARY.infer_trades(self.title)
            trade = named[0] if named else (sector.trade if sector else None)
        family = (sector.family if sector else None) or (trade.family if trade else None)
        self.sector_family = family or self.sector_family
        self.trade_code = trade.code if trade else self.trade_code
        return self

    def document(self) -> tuple[str, str]:
        """(title, body) as embedded and matched: the body carries the description and tags."""
        body = self.description + (f"\n{', '.join(self.tags)}." if self.tags else "")
        return self.title, body


class HolderProfile(Contract):
    """A project holder: the project in their own words, and their constraints."""

    @property
    def key(self) -> str:
        """The id of a stored profile (every stored profile has one; an ad-hoc query may not)."""
        if self.id is None:
            raise ValueError("profil sans id : seul un profil enregistré a une clé")
        return self.id

    id: RecordId | None = None
    name: ShortText | None = None
    email: Email | None = None
    digest_opt_in: Flag = False
    share_with_territories: Flag = False
    project: Annotated[str, Field(min_length=1, max_length=MAX_PROJECT_CHARS)]
    experience: Annotated[str, Field(max_length=MAX_PROJECT_CHARS)] | None = None
    kinds: list[Kind] = []
    #: Sectors and trades as written; ``families`` and ``trade_codes`` are what matcher read in
    #: them (and in the project, for a trade it names): computed on intake.
    sectors: Annotated[list[Label], Field(max_length=20)] = []
    families: list[FamilyCode] = []
    trades: Annotated[list[Label], Field(max_length=20)] = []
    trade_codes: list[RomeCode] = []
    budget_eur: Euros | None = None
    origin: Location | None = None
    max_distance_km: Annotated[float, Field(gt=0, le=2000)] | None = None
    departments: list[DepartmentCode] = []
    regions: list[RegionCode] = []
    needs_housing: Flag = False
    remote_worker: Flag = False
    partner_sector: Label | None = None
    partner_family: FamilyCode | None = None
    available_from: date | None = None
    counsellor: Counsellor | None = None

    @field_validator("kinds", "sectors", "families", "trades", "trade_codes", "departments", "regions")
    @classmethod
    def _no_repeats(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))

    @property
    def organisation(self) -> str:
        """The organisation following this holder: only its counsellors see the profile."""
        named = self.counsellor.organisation if self.counsellor else None
        return named or DEFAULT_ORGANISATION

    @classmethod
    def from_stored(cls, payload: dict[str, Any]) -> HolderProfile:
        """A stored profile: validated, its labels already read when it was written."""
        return cls.model_validate(payload, context=STORED)

    @model_validator(mode="after")
    def _read_labels(self, info: ValidationInfo) -> HolderProfile:
        """The families and trades the labels name; with no trade named, the first one the
        project or the experience names (« je suis infirmière… »). Not again for a stored
        profile read back (one of an earlier release only gets the families of its codes)."""
        if _stored(info):
            if not self.families:
                self.families = [s for s in self.sectors if s in FAMILIES]
            if self.partner_family is None and self.partner_sector in FAMILIES:
                self.partner_family = self.partner_sector
            return self
        sectors = [VOCABULARY.classify(s) for s in self.sectors]
        named = [c.trade for c in (VOCABULARY.classify(t) for t in self.trades) if c.trade]
        families = [c.family for c in sectors if c.family] + [t.family for t in named]
        trades = named + [c.trade for c in sectors if c.trade]
        # A trade the project names says what the person does; its family is not a sector
        # they asked for (a carpenter may look for a shop to take over).
        trades = trades or VOCABULARY.infer_trades(profile_text(self))[:1]
        self.families = list(dict.fromkeys(families)) or self.families
        self.trade_codes = list(dict.fromkeys(t.code for t in trades)) or self.trade_codes
        if self.partner_sector:
            self.partner_family = VOCABULARY.classify(self.partner_sector).family or self.partner_family
        return self

    @model_validator(mode="after")
    def _distance_needs_origin(self) -> HolderProfile:
        if self.max_distance_km is not None and self.origin is None:
            raise ValueError("une distance maximale demande une commune d'origine (origin)")
        return self


ReasonValue = float | int | str | list[str] | None


@dataclass(frozen=True)
class OpportunityQuery:
    """Which stored opportunities to list (None: any), and which page of them, in id order."""

    kind: str | None = None
    department: str | None = None
    territory: str | None = None
    status: str | None = None
    offset: int = 0
    limit: int | None = 50


@dataclass(frozen=True)
class HolderQuery:
    """Which stored profiles to list (None: any), and which page of them (all without a limit)."""

    digest_opt_in: bool | None = None
    share_with_territories: bool | None = None
    offset: int = 0
    limit: int | None = None
    #: Only this organisation's holders (a counsellor's caseload); None: every organisation.
    organisation: str | None = None
    #: Words to find in the holder's name or commune of origin, accents and case ignored.
    search: str | None = None


@dataclass(frozen=True)
class Feedback:
    """A verdict given on an offer for a holder, with the counsellor's comment."""

    opportunity_id: str
    verdict: Verdict
    comment: str | None
    created_at: datetime


@dataclass(frozen=True)
class Widening:
    """A widened constraint saved in a holder's profile, by whom and when."""

    constraint: str
    value: Any
    account: str
    created_at: datetime


@dataclass(frozen=True)
class CaseloadEntry:
    """A holder as a caseload lists them: the profile, their last match and last digest."""

    holder: HolderProfile
    last_matched_at: datetime | None
    last_digest_at: datetime | None


@dataclass(frozen=True)
class Listing:
    """An offer as its territory's listing shows it: the record, when it was first published
    and when it last changed."""

    opportunity: Opportunity
    published_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class OfferStanding:
    """An offer in its officer's listing: its dates, and this month's impressions (how often
    counsellors' searches and digests showed it) and interest (holders who said so): counts
    only, never who."""

    listing: Listing
    searches: int
    digests: int
    interested: int


@dataclass(frozen=True)
class Candidacy:
    """A holder as an officer sees them for one offer: a pseudonym, where they come from, their
    project, how they fit, and when a contact was proposed; never their name or address."""

    pseudonym: str
    commune: str | None
    department: str | None
    project: str
    match: Match
    proposed_at: datetime | None


@dataclass(frozen=True)
class ContactProposal:
    """An officer's proposal to put a holder in touch about an offer, for the holder's
    counsellor(s) to pass on: the only place where the holder and the officer meet."""

    opportunity: Opportunity
    holder: HolderProfile
    officer_name: str
    officer_email: str | None
    counsellor_emails: tuple[str, ...]


def new_holder_id() -> str:
    """An id for a profile created without one (« h-3f9a0c12b4e7 »)."""
    return f"h-{secrets.token_hex(6)}"


#: The prefix of a new offer's id, by kind, as the sample catalogue names them.
ID_PREFIXES = {"activity": "act", "takeover": "rep", "coworking": "cow"}


def new_opportunity_id(kind: str) -> str:
    """An id for an offer published through a form (« rep-3f9a0c12b4e7 »)."""
    return f"{ID_PREFIXES.get(kind, 'off')}-{secrets.token_hex(6)}"


def profile_text(profile: HolderProfile) -> str:
    """The text a profile is embedded and matched from: the project, then the experience."""
    return "\n".join(t for t in (profile.project, profile.experience) if t)


def opportunity_text(opportunity: Opportunity) -> str:
    """The text an opportunity is embedded and matched from: title, description, tags."""
    return "\n".join(opportunity.document())


class Reason(BaseModel):
    """One reason or warning: a stable ``code`` to select or show it by, its French ``text``,
    and the figures the text quotes (``values``), so that nobody needs to parse the text."""

    code: str
    text: str
    values: dict[str, ReasonValue] = {}


class Relaxation(BaseModel):
    """What widening one constraint would add to a short result: ``text`` says it, ``label``
    is the action's (a button's) wording."""

    constraint: str
    value: float | str | list[str] | None
    additional: int
    text: str
    label: str


#: The constraints a widening changes: a new limit, or values added to a list.
WIDENABLE_LIMITS = ("max_distance_km", "budget_eur")
WIDENABLE_LISTS = ("departments", "regions", "kinds")


def widened_record(profile: HolderProfile, constraint: str, value: Any) -> dict[str, Any]:
    """The profile's record with one constraint widened (a limit replaced, list values added),
    to validate again; ValueError for a constraint that cannot be widened."""
    record = profile.model_dump(mode="json", exclude_none=True)
    if constraint in WIDENABLE_LIMITS:
        record[constraint] = value
    elif constraint in WIDENABLE_LISTS:
        added = value if isinstance(value, list) else [value]
        record[constraint] = list(dict.fromkeys([*record.get(constraint, []), *added]))
    else:
        raise ValueError(f"critère non élargissable : {constraint!r}")
    return record


class Match(BaseModel):
    """One recommended opportunity, with the numbers behind its rank and its reasons in French."""

    rank: int
    opportunity_id: str
    score: float
    components: dict[str, float]
    reasons: list[Reason]
    warnings: list[Reason]
    title: str
    kind: Kind
    commune: str | None
    department: str | None
    distance_km: float | None
    price_eur: float | None
    #: Where the offer is (for a map).
    lat: float | None = None
    lon: float | None = None
    #: The fit in words (« Très proche du projet »), for people who should not read a score.
    fit: str = ""


class MatchResult(BaseModel):
    """The answer to one profile: ranked matches, what the filters excluded, how to widen."""

    holder_id: str | None
    matches: list[Match]
    excluded: dict[str, int]
    relaxations: list[Relaxation]


_MESSAGES: dict[str, str] = {
    "missing": "champ obligatoire manquant",
    "extra_forbidden": "champ inconnu (refusé)",
    "string_type": "doit être un texte",
    "string_too_short": "ne doit pas être vide",
    "int_parsing": "doit être un nombre entier",
    "int_type": "doit être un nombre entier",
    "int_from_float": "doit être un nombre entier",
    "float_parsing": "doit être un nombre",
    "float_type": "doit être un nombre",
    "finite_number": "doit être un nombre fini",
    "bool_parsing": "doit valoir oui ou non (true ou false)",
    "bool_type": "doit valoir oui ou non (true ou false)",
    "date_from_datetime_parsing": "doit être une date AAAA-MM-JJ",
    "date_parsing": "doit être une date AAAA-MM-JJ",
    "date_type": "doit être une date AAAA-MM-JJ",
    "list_type": "doit être une liste",
    "model_type": "doit être un objet",
    "model_attributes_type": "doit être un objet JSON",
    "dict_type": "doit être un objet JSON",
    "json_invalid": "JSON invalide",
    "string_unicode": "doit être un texte UTF-8",
    "int_parsing_size": "nombre trop grand",
}


def french_message(error: Mapping[str, Any]) -> str:
    """The French wording of one pydantic error (a dict of ``ValidationError.errors()``)."""
    kind, ctx = error["type"], error.get("ctx", {})
    if kind in _MESSAGES:
        return _MESSAGES[kind]
    if kind == "string_too_long":
        return f"trop long (au plus {ctx.get('max_length')} caractères)"
    if kind == "too_long":
        return f"trop d'éléments (au plus {ctx.get('max_length')})"
    if kind == "string_pattern_mismatch":
        return f"format invalide ({error.get('input')!r})"
    if kind == "literal_error":
        expected = str(ctx.get("expected")).replace(" or ", " ou ")
        return f"valeur inconnue {error.get('input')!r} ; valeurs possibles : {expected}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = ctx.get("ge", ctx.get("gt"))
        sign = "≥" if kind == "greater_than_equal" else ">"
        return f"doit être {sign} {bound:g} (reçu {error.get('input')!r})"
    if kind in ("less_than_equal", "less_than"):
        bound = ctx.get("le", ctx.get("lt"))
        sign = "≤" if kind == "less_than_equal" else "<"
        return f"doit être {sign} {bound:g} (reçu {error.get('input')!r})"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"valeur invalide ({kind})"  # pydantic's English wording is never shown as is


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """'location.lat' from ('location', 'lat'); 'tags[2]' from ('tags', 2)."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def describe(error: ValidationError) -> list[tuple[str, str]]:
    """(field, French message) for each problem of a pydantic validation error."""
    return [(field_path(e["loc"]), french_message(e)) for e in error.errors()]


RecordT = TypeVar("RecordT", bound=Contract)

_ID_RE = re.compile(ID_PATTERN)


def record_label(raw: Any, fallback: str) -> str:
    """How to name a raw record in a message: its id when it has a usable one."""
    if isinstance(raw, dict) and isinstance(raw.get("id"), str) and _ID_RE.match(raw["id"]):
        return f"{fallback} (id {raw['id']})"
    return fallback


def parse(model: type[RecordT], raw: Any, label: str) -> RecordT:
    """Validate ``raw`` into ``model``; on failure raise InvalidRecord naming record and fields."""
    if not isinstance(raw, dict):
        raise InvalidRecord(label, [("", "un enregistrement doit être un objet JSON")])
    try:
        return model.model_validate(raw)
    except ValidationError as error:
        raise InvalidRecord(record_label(raw, label), describe(error)) from None
