"""Screening: the public lists matched the way OpenSanctions' yente matches (issue #16 part 3).

A screening tool sends an entity as FollowTheMoney shapes it (``schema`` and ``properties``)
and gets back the listed entities that may be it, each with a score in [0, 1] and the reasons
(``explanations``). This module holds the matching; ``socialcredit.service.screening`` serves
it under yente's routes and the W3C Reconciliation API.

What is matched (the datasets):

- ``public`` (also answered as ``default``, the name yente's clients use when none is given):
  the entities ``export ftm`` writes (registry.ftm.public_entities) — organisations on the
  public black lists with their code, persons only as the public list shows them: the masked
  name, never an identifier. A person can therefore only be found here by a masked name, and
  an identifier sent in a query about a person matches nothing.
- an **agency's** dataset (named by :func:`agency_dataset`), for that agency's keys only: by
  identifier, anything a point-of-service check at that agency finds (the check itself answers
  it, fresh and audited); by name, organisations on public lists whose measures that agency
  applies, each confirmed by a check. Persons are never matched by name there: a measure
  applies to a person identified by the resident identity number, and a name search would
  show an agency who is listed rather than whether the person before it is.

Scores (algorithm :data:`ALGORITHM`; ``best`` and ``default`` name it too):

- the identifier given is the candidate's code (after dropping spaces, hyphens and case): 1.0;
- otherwise the best name similarity times :data:`NAME_CAP` (0.95), so that a name alone
  never scores as an identifier does. Names are compared after Unicode NFKC, case folding,
  dropping punctuation and, for organisations, the legal form (有限公司, Co., Ltd., …). Two
  Chinese names are compared as characters; a Chinese name and a Latin one as pinyin
  (``pypinyin``), so ``Rongcheng Yuanyang Yuye`` finds 荣成远洋渔业有限公司. The similarity is
  ``rapidfuzz``'s normalised Indel ratio (token-sorted for Latin names);
- a query that gives a code which is not the candidate's (codes are unique) halves the
  name's score, and the explanation says so.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from followthemoney import model, registry
from followthemoney.schema import Schema
from pypinyin import lazy_pinyin
from rapidfuzz import fuzz, process

from socialcredit.errors import UsageError
from socialcredit.registry.ftm import black_lists, public_entities, registry_state
from socialcredit.settings import Settings
from socialcredit.store.db import Store

ALGORITHM = "socialcredit-v1"
ALGORITHM_NAMES = (ALGORITHM, "best", "default")
ALGORITHM_DOCS = {
    "identifier_match": "The identifier given (registrationNumber, uscCode, idNumber, …) is "
    "the candidate's Unified Social Credit Code: 1.0.",
    "name_match": "The most similar pair of names (rapidfuzz's normalised Indel ratio, after "
    "NFKC, case folding and, for organisations, the legal form), times 0.95.",
    "name_pinyin_match": "As name_match, for a Chinese name and a Latin one, compared in "
    "pinyin (pypinyin).",
    "identifier_mismatch": "The query gives a code that is not the candidate's: the name's "
    "score is halved.",
}
NAME_CAP = 0.95
PUBLIC = "public"
PUBLIC_NAMES = (PUBLIC, "default")
DEFAULT_THRESHOLD = 0.70
DEFAULT_CUTOFF = 0.50
MAX_LIMIT = 500

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HAN_FORMS = ("股份有限公司", "有限责任公司", "有限公司", "股份公司", "集团", "公司")
_LATIN_FORMS = frozenset(
    (
        "co",
        "ltd",
        "limited",
        "company",
        "inc",
        "corp",
        "corporation",
        "llc",
        "plc",
        "group",
        "youxian",
        "gongsi",
        "zeren",
        "gufen",
        "jituan",
    )
)


@dataclass(frozen=True)
class Feature:
    """One reason in a result's ``explanations`` (yente's FeatureResult)."""

    score: float
    detail: str
    query: str | None = None
    candidate: str | None = None
    weight: float = 1.0

    def to_json(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "detail": self.detail,
            "query": self.query,
            "candidate": self.candidate,
            "weight": self.weight,
        }


@dataclass(frozen=True)
class NameKey:
    """A name as compared: ``text`` (normalised, its own script), ``latin`` (its pinyin when
    it is Chinese, else ``text``), and whether it has Chinese characters."""

    name: str
    text: str
    latin: str
    han: bool

    @property
    def compact(self) -> str:
        """The Latin form without spaces: how a Chinese name and a Latin one are compared."""
        return self.latin.replace(" ", "")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch if ch.isalnum() or ch == "*" else " " for ch in text)


def name_key(name: str, *, organisation: bool) -> NameKey:
    """How a name is compared (see the module's doc)."""
    folded = _fold(name)
    han = bool(_HAN.search(folded))
    if han:
        compact = folded.replace(" ", "")
        stripped = True
        while organisation and stripped:
            stripped = False
            for form in _HAN_FORMS:
                if compact.endswith(form) and len(compact) > len(form):
                    compact, stripped = compact[: -len(form)], True
        tokens = [t for part in lazy_pinyin(compact) for t in part.split()]
        return NameKey(name, compact, " ".join(tokens), True)
    tokens = folded.split()
    if organisation:
        kept = [t for t in tokens if t not in _LATIN_FORMS]
        tokens = kept or tokens
    return NameKey(name, "".join(tokens), " ".join(tokens), False)


def normal_identifier(value: str) -> str:
    return re.sub(r"[\s\-]", "", unicodedata.normalize("NFKC", value)).upper()


def agency_dataset(agency: str) -> str:
    """The dataset name of an agency's screening: ``agency-`` and a slug of its name (ASCII
    letters and digits), or of a digest of it when the name has none."""
    slug = re.sub(r"[^a-z0-9]+", "-", agency.casefold()).strip("-")
    if not slug:
        slug = hashlib.sha256(agency.encode()).hexdigest()[:12]
    return f"agency-{slug}"


@dataclass
class Candidate:
    """A listed subject as screening sees it: its FtM entity and its listings' sanctions."""

    id: str
    schema: Schema
    kind: str  # "organisation" or "person"
    subject_key: int
    identifier: str | None  # an organisation's code; persons: None
    data: dict[str, Any]
    sanctions: list[dict[str, Any]] = field(default_factory=list)
    agencies: set[str] = field(default_factory=set)
    keys: list[NameKey] = field(default_factory=list)
    label: str | None = None  # the caption when there is no name

    @property
    def caption(self) -> str:
        names = self.data["properties"].get("name") or [self.label or self.identifier or self.id]
        return str(names[0])


@dataclass
class Index:
    """The public lists, ready to match: built whole from one state of the registry."""

    state: tuple[Any, ...]
    on: str
    candidates: list[Candidate]
    entities: dict[str, dict[str, Any]]  # every entity by id, sanctions too
    by_identifier: dict[str, Candidate]
    _han: list[tuple[int, NameKey]] = field(default_factory=list)
    _latin: list[tuple[int, NameKey]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for number, candidate in enumerate(self.candidates):
            for key in candidate.keys:
                (self._han if key.han else self._latin).append((number, key))
        self._texts = {
            "han": [key.text for _, key in self._han],
            "han-compact": [key.compact for _, key in self._han],
            "latin": [key.latin for _, key in self._latin],
            "latin-compact": [key.compact for _, key in self._latin],
        }

    def organisations_of(self, agency: str) -> list[Candidate]:
        """The organisations listed where a measure of ``agency`` applies: those an agency's
        dataset matches by name (persons never are)."""
        return [c for c in self.candidates if c.kind == "organisation" and agency in c.agencies]

    def candidate(self, entity_id: str) -> Candidate | None:
        data = self.entities.get(entity_id)
        if data is None:
            return None
        if data["schema"] == "Sanction":
            entity_id = data["properties"]["entity"][0]
        return next((c for c in self.candidates if c.id == entity_id), None)

    def by_name(self, key: NameKey, cutoff: float) -> dict[int, tuple[float, NameKey]]:
        """Candidates with a name at least ``cutoff`` similar (0-100), by number: the best
        similarity and the candidate's name key that gave it. Two Chinese names are compared
        as characters, any other pair in Latin letters (pinyin), token-sorted."""
        found: dict[int, tuple[float, NameKey]] = {}
        if key.han:  # Chinese: with Chinese names by character, with Latin ones in pinyin
            passes = [
                (self._han, "han", key.text, fuzz.ratio),
                (self._latin, "latin-compact", key.compact, fuzz.ratio),
            ]
        else:  # Latin: with Latin names token by token, with Chinese ones in pinyin
            passes = [
                (self._latin, "latin", key.latin, fuzz.token_sort_ratio),
                (self._han, "han-compact", key.compact, fuzz.ratio),
            ]
        for owners, texts, query, scorer in passes:
            if not query or not owners:
                continue
            for _text, similarity, at in process.extract(
                query, self._texts[texts], scorer=scorer, score_cutoff=cutoff, limit=None
            ):
                number, against = owners[at]
                if similarity > found.get(number, (-1.0, against))[0]:
                    found[number] = (float(similarity), against)
        return found


def build_index(store: Store, settings: Settings) -> Index:
    """The index of today's public black lists (every scheme in force)."""
    state = registry_state(store)
    by_id: dict[str, Candidate] = {}
    entities: dict[str, dict[str, Any]] = {}
    for emitted in public_entities(store, settings, black_lists(store, settings, None)):
        data = emitted.entity.to_dict()
        data["datasets"] = [PUBLIC]
        entities[str(emitted.entity.id)] = data
        if emitted.kind == "sanction":
            owner = by_id[data["properties"]["entity"][0]]
            owner.sanctions.append(data)
            owner.agencies |= emitted.agencies
            continue
        organisation = emitted.kind == "organisation"
        by_id[str(emitted.entity.id)] = Candidate(
            id=str(emitted.entity.id),
            schema=emitted.entity.schema,
            kind=emitted.kind,
            subject_key=emitted.subject_key,
            identifier=emitted.identifier,
            data=data,
            keys=[name_key(n, organisation=organisation) for n in emitted.entity.get("name")],
        )
    candidates = list(by_id.values())
    return Index(
        state=state,
        on=settings.today().isoformat(),
        candidates=candidates,
        entities=entities,
        by_identifier={c.identifier: c for c in candidates if c.identifier is not None},
    )


class Screening:
    """The current index of one service process: built on first use and again whenever the
    ledger, the standings or the policies changed, or the day did (one short query tells)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self._index: Index | None = None
        self._lock = threading.Lock()

    def _current(self, index: Index | None) -> bool:
        return (
            index is not None
            and index.on == self.settings.today().isoformat()
            and index.state == registry_state(self.store)
        )

    def index(self) -> Index:
        found = self._index
        if self._current(found):
            assert found is not None
            return found
        with self._lock:
            if not self._current(self._index):
                self._index = build_index(self.store, self.settings)
            assert self._index is not None
            return self._index


# -- queries ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """An entity to match, as the query gave it (FtM-cleaned)."""

    schema: Schema
    properties: dict[str, list[str]]
    identifiers: tuple[str, ...]
    names: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"schema": self.schema.name, "properties": self.properties}

    @property
    def about_persons(self) -> bool:
        return self.schema.is_a("Person")

    def may_be(self, candidate: Candidate) -> bool:
        return self.schema.can_match(candidate.schema)


def parse_query(data: Any, where: str) -> Query:
    """A query entity (``{"schema": ..., "properties": {...}}``); a clear error naming
    ``where`` for anything else."""
    if not isinstance(data, dict):
        raise UsageError(f"{where}: a query is an object with schema and properties")
    schema = model.get(str(data.get("schema") or ""))
    if schema is None:
        raise UsageError(f"{where}.schema: {data.get('schema')!r} is not a FollowTheMoney schema")
    if not schema.matchable:
        raise UsageError(f"{where}.schema: {schema.name} cannot be matched (not matchable)")
    properties = data.get("properties") or {}
    if not isinstance(properties, dict):
        raise UsageError(f"{where}.properties: an object of property names and values")
    cleaned: dict[str, list[str]] = {}
    identifiers: list[str] = []
    names: list[str] = []
    for name, values in properties.items():
        prop = schema.get(name)
        if prop is None:
            raise UsageError(f"{where}.properties.{name}: {schema.name} has no such property")
        listed = values if isinstance(values, list) else [values]
        for value in listed:
            if not isinstance(value, str | int | float):
                raise UsageError(f"{where}.properties.{name}: values are strings")
            text = str(value).strip()
            if not text:
                continue
            cleaned.setdefault(name, []).append(text)
            if prop.type == registry.identifier:
                identifiers.append(normal_identifier(text))
            elif prop.type == registry.name:
                names.append(text)
    return Query(schema, cleaned, tuple(dict.fromkeys(identifiers)), tuple(dict.fromkeys(names)))


@dataclass(frozen=True)
class Scored:
    candidate: Candidate
    score: float
    features: dict[str, Feature]


def _name_feature(key: NameKey, against: NameKey, similarity: float) -> tuple[str, Feature]:
    pinyin = key.han != against.han
    feature = Feature(
        score=round(NAME_CAP * similarity / 100, 4),
        detail=(
            f"names compared in pinyin ({key.compact!r} ~ {against.compact!r}): {similarity:.0f}%"
            if pinyin
            else f"names compared ({key.text!r} ~ {against.text!r}): {similarity:.0f}%"
        ),
        query=key.name,
        candidate=against.name,
    )
    return ("name_pinyin_match" if pinyin else "name_match"), feature


def score(
    query: Query, candidate: Candidate, name: tuple[float, NameKey, NameKey] | None
) -> Scored:
    """A candidate's score for a query: by identifier, else by the best name pair."""
    features: dict[str, Feature] = {}
    if candidate.identifier is not None and candidate.identifier in query.identifiers:
        features["identifier_match"] = Feature(
            1.0,
            "the identifier given is the candidate's Unified Social Credit Code",
            candidate.identifier,
            candidate.identifier,
        )
        return Scored(candidate, 1.0, features)
    total = 0.0
    if name is not None:
        similarity, key, against = name
        label, feature = _name_feature(key, against, similarity)
        features[label] = feature
        total = feature.score
    codes = [i for i in query.identifiers if len(i) == 18]
    if candidate.identifier is not None and codes:
        features["identifier_mismatch"] = Feature(
            -round(total / 2, 4),
            "the query gives a code that is not the candidate's (codes are unique)",
            codes[0],
            candidate.identifier,
        )
        total = total / 2
    return Scored(candidate, round(total, 4), features)


def match(
    index: Index,
    query: Query,
    *,
    cutoff: float = DEFAULT_CUTOFF,
    limit: int = 5,
    among: Iterable[Candidate] | None = None,
    by_name: bool = True,
    exclude: Sequence[str] = (),
) -> tuple[list[Scored], int]:
    """The candidates scoring at least ``cutoff``, best first (ties by id), at most ``limit``,
    and how many there were in all. ``among`` restricts the candidates (an agency's), and
    ``by_name`` False matches by identifier only."""
    allowed = None if among is None else {c.id for c in among}
    found: dict[str, Scored] = {}

    def consider(candidate: Candidate, name: tuple[float, NameKey, NameKey] | None) -> None:
        if candidate.id in exclude or not query.may_be(candidate):
            return
        if allowed is not None and candidate.id not in allowed:
            return
        scored = score(query, candidate, name)
        if scored.score >= cutoff and (
            candidate.id not in found or scored.score > found[candidate.id].score
        ):
            found[candidate.id] = scored

    for identifier in query.identifiers:
        candidate = index.by_identifier.get(identifier)
        if candidate is not None:
            consider(candidate, None)
    if by_name:
        for name in query.names:
            key = name_key(name, organisation=not query.about_persons)
            # a name pair below cutoff / NAME_CAP cannot reach the cutoff
            least = min(100.0, 100 * cutoff / NAME_CAP)
            for number, (similarity, against) in index.by_name(key, least).items():
                consider(index.candidates[number], (similarity, key, against))
    ranked = sorted(found.values(), key=lambda s: (-s.score, s.candidate.id))
    return ranked[:limit], len(ranked)


def search(
    index: Index,
    text: str,
    *,
    schema: Schema | None = None,
    among: Iterable[Candidate] | None = None,
    persons: bool = True,
    fuzzy: bool = False,
) -> list[Scored]:
    """Free-text search (yente's ``/search``): an exact code, or names containing the text
    (any similar name with ``fuzzy``), best first."""
    allowed = None if among is None else {c.id for c in among}
    wanted = normal_identifier(text)
    results: dict[str, Scored] = {}
    for candidate in index.candidates:
        if allowed is not None and candidate.id not in allowed:
            continue
        if not persons and candidate.kind == "person":
            continue
        if schema is not None and not candidate.schema.is_a(schema.name):
            continue
        if candidate.identifier == wanted:
            results[candidate.id] = Scored(candidate, 1.0, {})
            continue
        key = name_key(text, organisation=candidate.kind == "organisation")
        best = 0.0
        for against in candidate.keys:
            if key.text and (key.text in against.text or key.latin in against.latin):
                best = max(best, NAME_CAP)
            elif fuzzy:
                best = max(best, NAME_CAP * fuzz.token_sort_ratio(key.latin, against.latin) / 100)
        if best >= (0.5 if fuzzy else NAME_CAP):
            results[candidate.id] = Scored(candidate, round(best, 4), {})
    return sorted(results.values(), key=lambda s: (-s.score, s.candidate.caption, s.candidate.id))


def entity_json(candidate: Candidate, *, nested: bool, datasets: Sequence[str]) -> dict[str, Any]:
    """A candidate as yente answers an entity: with its sanctions nested when asked."""
    properties = dict(candidate.data["properties"])
    if nested and candidate.sanctions:
        properties["sanctions"] = [
            {**s, "caption": _caption(s), "datasets": list(datasets), "referents": []}
            for s in candidate.sanctions
        ]
    return {
        "id": candidate.id,
        "caption": candidate.caption,
        "schema": candidate.schema.name,
        "properties": properties,
        "datasets": list(datasets),
        "referents": [],
        "target": True,
    }


def _caption(data: dict[str, Any]) -> str:
    props = data.get("properties", {})
    for name in ("program", "name", "programId"):
        if props.get(name):
            return str(props[name][0])
    return str(data.get("id"))


def sanction_json(data: dict[str, Any], datasets: Sequence[str]) -> dict[str, Any]:
    return {
        "id": data["id"],
        "caption": _caption(data),
        "schema": data["schema"],
        "properties": data["properties"],
        "datasets": list(datasets),
        "referents": [],
        "target": False,
    }
