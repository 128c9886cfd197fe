"""The screening API that existing clients speak (issue #16 part 3): OpenSanctions' yente
routes — ``POST /match/{dataset}``, ``GET /search/{dataset}``, ``GET /entities/{id}``,
``GET /catalog``, ``GET /algorithms`` (``/healthz`` and ``/readyz`` are the service's own) —
over the matching in :mod:`socialcredit.registry.screening`.

The ``public`` dataset (``default`` too) needs no key. An agency's dataset needs a key of that
agency (``Authorization: ApiKey KEY`` as yente's clients send it, ``Bearer`` or ``X-API-Key``):
its identifier queries are point-of-service checks, answered by the checker and audited as
checks (the purpose from ``X-Purpose`` or ``?purpose=``, else "screening at AGENCY"). Every
person a response shows — masked, from a public list — is recorded in the access audit before
the answer is sent.
"""

from __future__ import annotations

import datetime as dt
import json
from html import escape
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import Response
from followthemoney import model
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from socialcredit.errors import Forbidden, NotFound, Unauthenticated, UsageError
from socialcredit.identifiers import check
from socialcredit.registry.access import Principal
from socialcredit.registry.audit import ReadEntry, Reader
from socialcredit.registry.checks import CheckResult
from socialcredit.registry.publication import mask_identifier, mask_name
from socialcredit.registry.screening import (
    ALGORITHM,
    ALGORITHM_DOCS,
    ALGORITHM_NAMES,
    DEFAULT_CUTOFF,
    DEFAULT_THRESHOLD,
    MAX_LIMIT,
    PUBLIC,
    PUBLIC_NAMES,
    Candidate,
    Feature,
    Index,
    Scored,
    agency_dataset,
    entity_json,
    match,
    normal_identifier,
    parse_query,
    sanction_json,
    search,
)
from socialcredit.registry.screening import (
    Query as EntityQuery,
)
from socialcredit.service.api import AppState, caller, raises
from socialcredit.service.state import State
from socialcredit.store.schema import subjects

router = APIRouter(tags=["screening"])

# The routes' prefixes: errors are JSON here (with yente's ``detail``), not the portal's pages.
SCREENING = ("/match/", "/search/", "/entities/", "/catalog", "/algorithms", "/reconcile")

MAX_QUERIES = 1000


class Total(BaseModel):
    value: int
    relation: str = "eq"


class EntityOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    caption: str
    schema_: str = Field(alias="schema")
    properties: dict[str, list[Any]]
    datasets: list[str]
    referents: list[str] = []
    target: bool = False


class ScoredOut(EntityOut):
    score: float
    match: bool
    explanations: dict[str, dict[str, Any]]


class QueryResponse(BaseModel):
    status: int = 200
    results: list[ScoredOut]
    total: Total
    query: dict[str, Any]


class MatchOut(BaseModel):
    responses: dict[str, QueryResponse]
    matcher: dict[str, Any]
    limit: int


class MatchIn(BaseModel):
    queries: dict[str, dict[str, Any]] = Field(
        description="Entities to match, by a key of yours: {schema, properties} as FtM."
    )
    weights: dict[str, float] = {}
    config: dict[str, Any] = {}


class SearchOut(BaseModel):
    results: list[EntityOut]
    facets: dict[str, Any] = {}
    total: Total
    limit: int
    offset: int


class DatasetOut(BaseModel):
    name: str
    title: str
    summary: str
    load: bool = True
    index_current: bool = True
    entity_count: int
    updated_at: str
    category: str = "list"
    children: list[str] = []


class CatalogOut(BaseModel):
    datasets: list[DatasetOut]
    current: list[str]
    outdated: list[str] = []
    index_stale: bool = False


class AlgorithmOut(BaseModel):
    name: str
    description: str
    docs: dict[str, Any]


class AlgorithmsOut(BaseModel):
    algorithms: list[AlgorithmOut]
    default: str
    best: str


# -- who asks -----------------------------------------------------------------------------------


async def maybe_caller(request: Request) -> Principal | None:
    """The caller if a key is given (checked as on every route), else None: the public."""
    if request.headers.get("authorization") is None and request.headers.get("x-api-key") is None:
        return None
    return await caller(request)


_SCHEMA_OF = {"person": model["Person"], "organisation": model["Organization"]}

Caller = Annotated[Principal | None, Depends(maybe_caller)]


def _dataset_for(dataset: str, who: Principal | None) -> str | None:
    """None for the public dataset; the agency for an agency's own dataset; else an error."""
    if dataset in PUBLIC_NAMES:
        return None
    if not dataset.startswith("agency-"):
        raise NotFound(f"no dataset {dataset!r}: the datasets are {PUBLIC!r} and agencies' own")
    if who is None:
        raise Unauthenticated(f"the dataset {dataset!r} needs its agency's API key")
    if who.role != "agency" or who.agency is None or agency_dataset(who.agency) != dataset:
        raise Forbidden(f"the dataset {dataset!r} is not your agency's")
    return who.agency


def _purpose(request: Request, purpose: str | None, default: str) -> str:
    given = purpose or request.headers.get("x-purpose") or ""
    if len(given) > 500:
        raise UsageError("purpose: at most 500 characters")
    return given.strip() or default


def _public_reader(who: Principal | None, purpose: str) -> Reader:
    if who is None:
        return Reader("anonymous (screening API)", "public", purpose)
    return Reader(who.actor, who.role, purpose)


def _audit_persons(state: State, reader: Reader, shown: list[Candidate], what: str) -> None:
    """Record every person a response shows (masked, from a public list) before it is sent."""
    keys = sorted({c.subject_key for c in shown if c.kind == "person"})
    if not keys:
        return
    with state.store.reading() as connection:
        found = dict(
            connection.execute(
                sa.select(subjects.c.id, subjects.c.identifier).where(subjects.c.id.in_(keys))
            ).all()
        )
    state.audit([ReadEntry(reader, key, found[key], what) for key in keys if key in found])


async def _index(state: State) -> Index:
    return await run_in_threadpool(state.screening.index)


def _scored_json(scored: Scored, dataset: str, threshold: float) -> dict[str, Any]:
    return {
        **entity_json(scored.candidate, nested=False, datasets=[dataset]),
        "score": scored.score,
        "match": scored.score >= threshold,
        "explanations": {k: f.to_json() for k, f in scored.features.items()},
    }


# -- an agency's dataset: checks --------------------------------------------------------------


def _checked_entity(
    result: CheckResult, row: Any, public: Candidate | None, dataset: str
) -> Candidate:
    """A subject a check at the agency found measures for, as an FtM-shaped candidate: the
    public entity where it is on a public list, else its code (organisations) or its
    identifier and masked name (persons) — what the agency gave and what a check answers."""
    if public is not None:
        return public
    if result.kind == "person":
        schema, entity_id = model.get("Person"), f"sc-person-{row.id}"
        properties = {"idNumber": [result.subject]}
        masked = mask_name(row.name)
        if masked:
            properties["name"] = [masked]
    else:
        kind = "Company" if result.subject.startswith("9") else "Organization"
        schema, entity_id = model.get(kind), f"sc-org-{result.subject}"
        properties = {"registrationNumber": [result.subject], "name": [row.name or result.subject]}
    assert schema is not None
    data = {"id": entity_id, "schema": schema.name, "properties": {**properties, "country": ["cn"]}}
    return Candidate(
        id=entity_id,
        schema=schema,
        kind=result.kind or "organisation",
        subject_key=int(row.id),
        identifier=result.subject if result.kind == "organisation" else None,
        data={**data, "datasets": [dataset]},
        label=mask_identifier(result.subject),
    )


def _measures_feature(result: CheckResult, agency: str) -> Feature:
    titles = "; ".join(f"{a.title} ({a.scheme}/{a.measure})" for a in result.measures)
    objection = (
        " — a record behind it is under objection"
        if any(a.under_objection for a in result.measures)
        else ""
    )
    return Feature(0.0, f"applies at {agency} today: {titles}{objection}", weight=0.0)


async def _agency_match(
    state: State,
    index: Index,
    agency: str,
    dataset: str,
    queries: dict[str, EntityQuery],
    reader: Reader,
    cutoff: float,
    limit: int,
) -> dict[str, tuple[list[Scored], int]]:
    """Each query matched at the agency: identifiers given and organisations of the public
    lists whose measures the agency applies (by name), all answered by one check."""
    theirs = index.organisations_of(agency)
    wanted: dict[str, list[tuple[str, Scored | None]]] = {}
    for key, query in queries.items():
        pairs: list[tuple[str, Scored | None]] = []
        for identifier in query.identifiers:
            kind = check(identifier).kind
            if kind is not None and query.schema.can_match(_SCHEMA_OF[kind]):
                pairs.append((identifier, None))
        if not query.about_persons:
            by_name, _ = match(index, query, cutoff=cutoff, limit=MAX_LIMIT, among=theirs)
            pairs += [(s.candidate.identifier or "", s) for s in by_name]
        wanted[key] = pairs
    subjects_asked = sorted({i for pairs in wanted.values() for i, _ in pairs if i})
    results = await state.check(agency, subjects_asked, reader, in_thread=len(subjects_asked) > 50)
    found = {r.subject: r for r in results if r.measures}
    with state.store.reading() as connection:
        rows = {
            r.identifier: r
            for r in connection.execute(
                sa.select(subjects.c.id, subjects.c.identifier, subjects.c.name).where(
                    subjects.c.identifier.in_(sorted(found))
                )
            )
        }
    answers: dict[str, tuple[list[Scored], int]] = {}
    for key, pairs in wanted.items():
        best: dict[str, Scored] = {}
        for identifier, named in pairs:
            result = found.get(identifier)
            if result is None or identifier not in rows:
                continue
            public = index.by_identifier.get(identifier)
            candidate = _checked_entity(result, rows[identifier], public, dataset)
            features = dict(named.features) if named is not None else {}
            total = named.score if named is not None else 1.0
            if named is None:
                features["identifier_match"] = Feature(
                    1.0, "the identifier given is the subject's", identifier, identifier
                )
            features["measures"] = _measures_feature(result, agency)
            scored = Scored(candidate, total, features)
            if scored.score >= cutoff and (
                candidate.id not in best or scored.score > best[candidate.id].score
            ):
                best[candidate.id] = scored
        ranked = sorted(best.values(), key=lambda s: (-s.score, s.candidate.id))
        answers[key] = (ranked[:limit], len(ranked))
    return answers


# -- the routes ----------------------------------------------------------------------------------

Dataset = Annotated[
    str,
    PathParam(
        max_length=200,
        description="`public` (or `default`): the public lists; `agency-…`: your agency's.",
    ),
]
PurposeQuery = Annotated[
    str | None, Query(max_length=500, description="Why you screen (else X-Purpose).")
]


@router.post(
    "/match/{dataset}",
    response_model=MatchOut,
    responses=raises(400, 401, 403, 404),
    summary="Match entities by example (yente's /match)",
)
async def match_route(
    dataset: Dataset,
    request: Request,
    who: Caller,
    state: AppState,
    body: Annotated[MatchIn, Body()],
    algorithm: Annotated[str, Query(max_length=100)] = "best",
    threshold: Annotated[float, Query(ge=0, le=1)] = DEFAULT_THRESHOLD,
    cutoff: Annotated[float, Query(ge=0, le=1)] = DEFAULT_CUTOFF,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 5,
    fuzzy: Annotated[bool, Query(description="Accepted for yente's clients; no effect.")] = False,
    purpose: PurposeQuery = None,
) -> MatchOut:
    """Each query entity (`{schema, properties}` as FollowTheMoney) against the dataset: the
    candidates scoring at least `cutoff`, best first, at most `limit`; `match` is a score at
    or above `threshold`. An identifier that is the candidate's scores 1.0; names score below
    (0.95 at most) and say why in `explanations`. An agency's dataset answers identifiers with
    a point-of-service check at that agency, audited as one."""
    agency = _dataset_for(dataset, who)
    if algorithm not in ALGORITHM_NAMES:
        raise UsageError(f"algorithm: {algorithm!r} is not one of {', '.join(ALGORITHM_NAMES)}")
    if len(body.queries) > MAX_QUERIES:
        raise UsageError(f"queries: at most {MAX_QUERIES} in one request")
    queries = {k: parse_query(q, f"queries.{k}") for k, q in body.queries.items()}
    index = await _index(state)
    if agency is None:
        reader = _public_reader(who, _purpose(request, purpose, "public screening (match API)"))
        answers = {k: match(index, q, cutoff=cutoff, limit=limit) for k, q in queries.items()}
        shown = [s.candidate for results, _ in answers.values() for s in results]
        await run_in_threadpool(_audit_persons, state, reader, shown, "screening match (public)")
    else:
        assert who is not None
        reader = Reader(who.actor, who.role, _purpose(request, purpose, f"screening at {agency}"))
        answers = await _agency_match(state, index, agency, dataset, queries, reader, cutoff, limit)
    responses = {
        key: QueryResponse(
            results=[ScoredOut(**_scored_json(s, dataset, threshold)) for s in results],
            total=Total(value=total),
            query=queries[key].to_json(),
        )
        for key, (results, total) in answers.items()
    }
    return MatchOut(responses=responses, matcher=_algorithm().model_dump(), limit=limit)


@router.get(
    "/search/{dataset}",
    response_model=SearchOut,
    responses=raises(400, 401, 403, 404),
    summary="Search by name or code (yente's /search)",
)
async def search_route(
    dataset: Dataset,
    request: Request,
    who: Caller,
    state: AppState,
    q: Annotated[str, Query(max_length=200)] = "",
    schema: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT)] = 10,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    fuzzy: bool = False,
    purpose: PurposeQuery = None,
) -> SearchOut:
    """Listed entities whose name contains `q` (any similar name with `fuzzy`) or whose code
    is `q`. In an agency's dataset: organisations only, of the lists whose measures it
    applies."""
    agency = _dataset_for(dataset, who)
    wanted = None
    if schema is not None:
        wanted = model.get(schema)
        if wanted is None:
            raise UsageError(f"schema: {schema!r} is not a FollowTheMoney schema")
    index = await _index(state)
    among = None
    if agency is not None:
        among = index.organisations_of(agency)
    found = search(index, q, schema=wanted, among=among, fuzzy=fuzzy) if q.strip() else []
    page = found[offset : offset + limit]
    reader = _public_reader(who, _purpose(request, purpose, "public screening (search API)"))
    await run_in_threadpool(
        _audit_persons, state, reader, [s.candidate for s in page], "screening search"
    )
    return SearchOut(
        results=[
            EntityOut(**entity_json(s.candidate, nested=False, datasets=[dataset])) for s in page
        ],
        total=Total(value=len(found)),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/entities/{entity_id}",
    response_model=EntityOut,
    responses=raises(404),
    summary="One listed entity, with its sanctions (yente's /entities)",
)
async def entity_route(
    entity_id: Annotated[str, PathParam(max_length=200)],
    request: Request,
    who: Caller,
    state: AppState,
    nested: bool = True,
    purpose: PurposeQuery = None,
) -> EntityOut:
    """An entity of the public lists by its id (`sc-org-CODE`, `sc-person-N`, or a sanction's
    `ENTITY.SCHEME.LIST`); with `nested`, its sanctions in `properties.sanctions`."""
    index = await _index(state)
    data = index.entities.get(entity_id)
    if data is None:
        raise NotFound(f"no entity {entity_id!r} is on a public list today")
    if data["schema"] == "Sanction":
        return EntityOut(**sanction_json(data, [PUBLIC]))
    candidate = index.candidate(entity_id)
    assert candidate is not None
    reader = _public_reader(who, _purpose(request, purpose, "public screening (entity API)"))
    await run_in_threadpool(_audit_persons, state, reader, [candidate], "screening entity")
    return EntityOut(**entity_json(candidate, nested=nested, datasets=[PUBLIC]))


def _algorithm() -> AlgorithmOut:
    return AlgorithmOut(
        name=ALGORITHM,
        description="Identifiers exactly (1.0), names by similarity in Chinese characters or "
        "pinyin (at most 0.95): the registry's own, documented in docs/screening.md.",
        docs=ALGORITHM_DOCS,
    )


@router.get("/algorithms", response_model=AlgorithmsOut, summary="The matching algorithms")
def algorithms_route() -> AlgorithmsOut:
    """The one algorithm (`best` and `default` name it too) and what each feature means."""
    return AlgorithmsOut(algorithms=[_algorithm()], default=ALGORITHM, best=ALGORITHM)


@router.get("/catalog", response_model=CatalogOut, summary="The datasets (yente's /catalog)")
async def catalog_route(who: Caller, state: AppState) -> CatalogOut:
    """`public`, and for an agency's key its own dataset."""
    index = await _index(state)
    updated = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    entities = len(index.entities)
    datasets = [
        DatasetOut(
            name=PUBLIC,
            title=f"{state.settings.registry_name}: public lists",
            summary="The public black lists of the schemes in force: organisations with their "
            "code, persons masked.",
            entity_count=entities,
            updated_at=updated,
        )
    ]
    if who is not None and who.role == "agency" and who.agency is not None:
        datasets.append(
            DatasetOut(
                name=agency_dataset(who.agency),
                title=f"{who.agency}: subjects its measures apply to",
                summary="By identifier: what a point-of-service check at the agency finds; "
                "by name: organisations of the public lists whose measures it applies.",
                entity_count=len(index.organisations_of(who.agency)),
                updated_at=updated,
            )
        )
    return CatalogOut(datasets=datasets, current=[d.name for d in datasets])


# -- W3C Reconciliation Service API 0.2 -------------------------------------------------------

RECONCILE_TYPES = (("Organization", "Organisation on a public list"), ("Company", "Company"))
EXTEND_PROPERTIES = (
    ("registrationNumber", "Unified Social Credit Code"),
    ("name", "Name"),
    ("program", "Public lists"),
    ("provisions", "Measures, with their agencies"),
    ("startDate", "Listed since"),
    ("endDate", "Listed until (last day)"),
    ("sourceUrl", "Public page"),
)


def _manifest(state: State, base: str) -> dict[str, Any]:
    public = state.settings.public_url.rstrip("/")
    return {
        "versions": ["0.2"],
        "name": f"{state.settings.registry_name}: organisations on public lists",
        "identifierSpace": f"{public}/public/subjects/",
        "schemaSpace": "https://followthemoney.tech/explorer/schemata/",
        "documentation": f"{public}/docs",
        "serviceVersion": ALGORITHM,
        "view": {"url": f"{public}/public/subjects/{{{{id}}}}"},
        "defaultTypes": [{"id": i, "name": n} for i, n in RECONCILE_TYPES],
        "preview": {"url": f"{base}/reconcile/preview?id={{{{id}}}}", "width": 430, "height": 300},
        "suggest": {
            "entity": {"service_url": f"{base}/reconcile", "service_path": "/suggest/entity"}
        },
        "extend": {
            "propose_properties": {
                "service_url": f"{base}/reconcile",
                "service_path": "/properties",
            },
            "property_settings": [],
        },
    }


def _organisations(index: Index) -> list[Candidate]:
    return [c for c in index.candidates if c.kind == "organisation"]


def _reconcile_one(index: Index, spec: Any, where: str) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise UsageError(f"{where}: a query is an object with query, type, limit, properties")
    types = spec.get("type") or []
    types = [types] if isinstance(types, str) else types
    wanted = [model.get(str(t)) for t in types]
    limit = spec.get("limit", 3)
    if not isinstance(limit, int | float) or not 1 <= limit <= MAX_LIMIT:
        raise UsageError(f"{where}.limit: 1 to {MAX_LIMIT}")
    properties: dict[str, list[str]] = {}
    for item in spec.get("properties") or []:
        if not isinstance(item, dict) or "pid" not in item:
            raise UsageError(f"{where}.properties: each is {{pid, v}}")
        values = item.get("v")
        listed = values if isinstance(values, list) else [values]
        for value in listed:
            text = value.get("id") if isinstance(value, dict) else value
            if text is not None and str(text).strip():
                properties.setdefault(str(item["pid"]), []).append(str(text))
    text = spec.get("query")
    if text is not None and not isinstance(text, str):
        raise UsageError(f"{where}.query: a string")
    if text:
        properties.setdefault("name", []).append(text)
    identifiers = properties.pop("registrationNumber", []) + properties.pop("uscCode", [])
    query = parse_query(
        {
            "schema": "Organization",
            "properties": {"name": properties.get("name", []), "registrationNumber": identifiers},
        },
        where,
    )
    found, _ = match(index, query, limit=MAX_LIMIT, among=_organisations(index))
    if any(w is None for w in wanted):
        found = []  # a type this service does not have: no candidate is of it
    found = [s for s in found if all(s.candidate.schema.is_a(w.name) for w in wanted if w)]
    found = found[: int(limit)]
    alone = len(found) == 1
    results = []
    for scored in found:
        candidate = scored.candidate
        results.append(
            {
                "id": candidate.identifier,
                "name": candidate.caption,
                "description": "; ".join(
                    str(s["properties"]["program"][0]) for s in candidate.sanctions
                ),
                "score": round(scored.score * 100, 2),
                "match": scored.score == 1.0 or (alone and scored.score >= 0.95),
                "type": [{"id": candidate.schema.name, "name": candidate.schema.label}],
                "features": [{"id": k, "value": f.score} for k, f in scored.features.items()],
            }
        )
    return {"result": results}


def _extend(index: Index, spec: Any) -> dict[str, Any]:
    if not isinstance(spec, dict) or not isinstance(spec.get("ids"), list):
        raise UsageError("extend: an object with ids and properties")
    known = dict(EXTEND_PROPERTIES)
    wanted = []
    for item in spec.get("properties") or []:
        pid = item.get("id") if isinstance(item, dict) else None
        if pid not in known:
            raise UsageError(f"extend.properties: {pid!r} is not one of {', '.join(known)}")
        wanted.append(pid)
    rows: dict[str, dict[str, list[dict[str, str]]]] = {}
    for code in spec["ids"]:
        candidate = index.by_identifier.get(normal_identifier(str(code)))
        row: dict[str, list[dict[str, str]]] = {}
        for pid in wanted:
            if candidate is None:
                row[pid] = []
                continue
            values = list(candidate.data["properties"].get(pid, []))
            for sanction in candidate.sanctions:
                values += sanction["properties"].get(pid, [])
            row[pid] = [{"str": str(v)} for v in dict.fromkeys(values)]
        rows[str(code)] = row
    return {"meta": [{"id": pid, "name": known[pid]} for pid in wanted], "rows": rows}


def _json_field(raw: str | None, name: str) -> Any:
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise UsageError(f"{name}: not JSON ({error.msg} at {error.pos})") from None


async def _reconcile(
    request: Request, state: State, queries: str | None, extend: str | None
) -> dict[str, Any]:
    base = str(request.base_url).rstrip("/")
    if request.method == "POST":
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media == "application/json":
            body = _json_field((await request.body()).decode("utf-8", "replace"), "body")
            if not isinstance(body, dict):
                raise UsageError("body: an object with queries or extend")
            queries = json.dumps(body["queries"]) if "queries" in body else queries
            extend = json.dumps(body["extend"]) if "extend" in body else extend
        else:
            form = await request.form()
            queries = str(form["queries"]) if "queries" in form else queries
            extend = str(form["extend"]) if "extend" in form else extend
    batch, extension = _json_field(queries, "queries"), _json_field(extend, "extend")
    if batch is None and extension is None:
        return _manifest(state, base)
    index = await _index(state)
    if extension is not None:
        return _extend(index, extension)
    if not isinstance(batch, dict) or len(batch) > MAX_QUERIES:
        raise UsageError(f"queries: an object of at most {MAX_QUERIES} queries by key")
    return {k: _reconcile_one(index, q, f"queries.{k}") for k, q in batch.items()}


ReconcileOut = dict[str, Any]
_RECONCILE_DOC = (
    "The W3C Reconciliation Service API (0.2) over the organisations on public lists: "
    "without parameters the manifest; with `queries` (a JSON object of queries by key) their "
    "candidates; with `extend` the data extension. Ids are Unified Social Credit Codes."
)


@router.get("/reconcile", response_model=ReconcileOut, responses=raises(400), summary="Reconcile")
async def reconcile_get(
    request: Request,
    state: AppState,
    queries: Annotated[str | None, Query(max_length=2**20)] = None,
    extend: Annotated[str | None, Query(max_length=2**20)] = None,
) -> dict[str, Any]:
    return await _reconcile(request, state, queries, extend)


reconcile_get.__doc__ = _RECONCILE_DOC


@router.post(
    "/reconcile",
    response_model=ReconcileOut,
    responses=raises(400),
    summary="Reconcile (form-encoded queries or extend, as OpenRefine sends them)",
    openapi_extra={
        "requestBody": {
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {"queries": {"type": "string"}, "extend": {"type": "string"}},
                    }
                }
            }
        }
    },
)
async def reconcile_post(request: Request, state: AppState) -> dict[str, Any]:
    return await _reconcile(request, state, None, None)


reconcile_post.__doc__ = _RECONCILE_DOC


@router.get(
    "/reconcile/suggest/entity",
    response_model=ReconcileOut,
    summary="Suggest organisations on public lists by the start of a name or code",
)
async def suggest_entity(
    state: AppState,
    prefix: Annotated[str, Query(max_length=200)] = "",
    cursor: Annotated[int, Query(ge=0, le=10_000)] = 0,
) -> dict[str, Any]:
    index = await _index(state)
    found = search(index, prefix, persons=False) if prefix.strip() else []
    return {
        "result": [
            {
                "id": s.candidate.identifier,
                "name": s.candidate.caption,
                "notable": [{"id": s.candidate.schema.name, "name": s.candidate.schema.label}],
            }
            for s in found[cursor : cursor + 10]
        ]
    }


@router.get(
    "/reconcile/properties",
    response_model=ReconcileOut,
    summary="The properties data extension can add",
)
def propose_properties(
    type: Annotated[str, Query(max_length=100)] = "Organization",
    limit: Annotated[int, Query(ge=1, le=100)] = 100,
) -> dict[str, Any]:
    return {
        "type": type,
        "limit": limit,
        "properties": [{"id": i, "name": n} for i, n in EXTEND_PROPERTIES][:limit],
    }


@router.get(
    "/reconcile/preview",
    response_class=Response,
    responses={
        200: {"description": "An HTML card.", "content": {"text/html": {"schema": {}}}},
        **raises(404),
    },
    summary="A small HTML card of an organisation on a public list",
)
async def preview(state: AppState, id: Annotated[str, Query(max_length=40)]) -> Response:
    index = await _index(state)
    candidate = index.by_identifier.get(normal_identifier(id))
    if candidate is None:
        raise NotFound(f"no organisation {id!r} is on a public list today")
    lists = "".join(
        f"<li>{escape(str(s['properties']['program'][0]))}</li>" for s in candidate.sanctions
    )
    return Response(
        media_type="text/html; charset=utf-8",
        content=f"<html><body style='font-family:sans-serif'><h3>{escape(candidate.caption)}</h3>"
        f"<p>{escape(candidate.identifier or '')}</p><ul>{lists}</ul></body></html>",
    )
