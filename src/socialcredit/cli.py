"""The `socialcredit` command line: thin commands over the service functions."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import sqlalchemy as sa
import typer
from pydantic import ValidationError
from rich.table import Table

from socialcredit import identifiers
from socialcredit.cli_common import Db, Json, err, out
from socialcredit.cli_exchange import register_exchange_commands
from socialcredit.cli_registry import (
    register_commands,
    registry_evaluate,
    show_batch,
    show_standing,
)
from socialcredit.cli_service import register_service_commands, serve_demo
from socialcredit.demo import build_demo
from socialcredit.errors import SocialCreditError, UsageError
from socialcredit.evaluation import ENGINES, evaluate_files, get_engine, parse_as_of, parse_known_at
from socialcredit.inputs import is_url
from socialcredit.policy.shipped import resolve_catalogue, resolve_scheme, shipped_scheme_ids
from socialcredit.policy.summary import describe_scheme
from socialcredit.registry.audit import Reader
from socialcredit.registry.standings.online import standing_of
from socialcredit.settings import Settings
from socialcredit.store.db import Store

app = typer.Typer(
    help=(
        "socialcredit: a rule-of-law credit registry. Validate identifiers and policies, and "
        "evaluate furnished records into standings (scores, grades, lists, measures)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
id_app = typer.Typer(help="Check resident identity numbers and unified social credit codes.")
policy_app = typer.Typer(help="Validate, summarise and list catalogues and schemes.")
app.add_typer(id_app, name="id")
app.add_typer(policy_app, name="policy")


@id_app.command("check")
def id_check(
    ids: Annotated[list[str], typer.Argument(help="Identifiers, taken exactly as given.")],
) -> None:
    """Print ID<TAB>person, ID<TAB>organisation or ID<TAB>invalid: REASON for each identifier.

    Exits 1 if any is invalid. An unknown region code in a resident number is only a warning
    (on stderr): region tables change.
    """
    invalid = False
    for value in ids:
        result = identifiers.check(value)
        if result.kind is None:
            invalid = True
            print(f"{value}\tinvalid: {result.reason}")
        else:
            print(f"{value}\t{result.kind}")
            warning = identifiers.region_warning(value)
            if warning:
                err.print(f"warning: {value}: {warning}")
    raise typer.Exit(1 if invalid else 0)


@policy_app.command("check")
def policy_check(
    catalogue: Annotated[Path, typer.Argument(help="The catalogue YAML file.")],
    schemes: Annotated[
        list[str] | None, typer.Argument(help="Scheme YAML files or shipped scheme ids.")
    ] = None,
) -> None:
    """Validate a catalogue and schemes, printing every problem (exit 2) or a summary of each."""
    loaded_catalogue = resolve_catalogue(str(catalogue))
    problems = []
    loaded = []
    for scheme in schemes or []:
        try:
            loaded.append(resolve_scheme(scheme, catalogue=loaded_catalogue))
        except SocialCreditError as error:
            problems.append(str(error))
    if problems:
        raise UsageError("\n".join(problems))
    out.print(f"catalogue {catalogue}: {len(loaded_catalogue.codes)} codes, all valid")
    for scheme_obj in loaded:
        out.print()
        out.print(describe_scheme(scheme_obj, loaded_catalogue), markup=False)


@policy_app.command("list")
def policy_list() -> None:
    """List the schemes shipped with socialcredit (usable by id wherever a scheme is asked)."""
    catalogue = resolve_catalogue(None)
    table = Table("id", "version", "title", "subjects", "lists", "measures", "score")
    for scheme_id in shipped_scheme_ids():
        scheme = resolve_scheme(scheme_id, catalogue=catalogue)
        table.add_row(
            scheme.id,
            str(scheme.version),
            scheme.title,
            ", ".join(scheme.subjects),
            str(len(scheme.lists)),
            str(len(scheme.measures)),
            "yes" if scheme.score else "no",
        )
    out.print(table)


def location(text: str) -> Path | str:
    """A URL as given (a Path would fold its ``//``), anything else a local path."""
    return text if is_url(text) else Path(text)


@app.command()
def evaluate(
    scheme: Annotated[
        list[str],
        typer.Option(
            help="A scheme YAML file or a shipped scheme id; in registry mode a published id. "
            "File mode takes it more than once: the schemes are evaluated together (a subject "
            "on a black list of any is on no red list and gets no incentive in any) and each "
            "line begins with a scheme key, by scheme id then subject."
        ),
    ],
    records: Annotated[
        str | None,
        typer.Option(
            help="Records: .csv, .jsonl or .parquet (with --engine spark also a Parquet URL: "
            "hdfs://, s3a://, file://). Without it: registry mode."
        ),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="The valid-time date T, YYYY-MM-DD (registry mode: default today).",
        ),
    ] = None,
    out_path: Annotated[
        str | None,
        typer.Option(
            "--out",
            help="Where to write standings: JSON lines, or (--engine spark) a .parquet dataset, "
            "also at a URL.",
        ),
    ] = None,
    catalogue: Annotated[
        str | None, typer.Option(help="The catalogue YAML file (default: the shipped one).")
    ] = None,
    events: Annotated[
        str | None, typer.Option(help="Events: .csv, .jsonl or .parquet (or a Parquet URL).")
    ] = None,
    known_at: Annotated[
        str | None,
        typer.Option(
            "--known-at",
            help="Transaction time K: an instant with zone (2024-05-01T08:00:00Z). Default: now.",
        ),
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            help=f"Evaluation engine: {', '.join(ENGINES)} (spark: the extra socialcredit[spark])."
        ),
    ] = "duckdb",
    spark_master: Annotated[
        str | None,
        typer.Option(
            "--spark-master",
            envvar="SOCIALCREDIT_SPARK_MASTER",
            help="Spark's master URL for --engine spark (default local[*]), e.g. spark://host:7077.",
        ),
    ] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add each subject's explanation to its line.")
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Write every rejected row (file,row,field,reason) here.")
    ] = None,
    db: Db = None,
    as_json: Json = False,
) -> None:
    """Evaluate a scheme over furnished records and events: standing on T as known at K.

    File mode (--records, --as-of, --out): writes one JSON line per subject (sorted by
    identifier) and prints a summary on stderr. Exits 0 when the evaluation ran (rejected rows
    included), 2 on a usage or policy error.

    Registry mode (no --records): evaluates everyone in the store under the published scheme
    with the DuckDB (or Spark) engine over a snapshot of the ledger, stores the standings
    snapshot (and, for today as now known, the current standings) and prints the grade
    distribution and list sizes. Options: --db, --as-of, --known-at, --engine, --json.

    --engine spark runs the same SQL on Apache Spark (local[*], or --spark-master URL); with
    --out ending in .parquet it writes a Parquet dataset partitioned by kind.
    """
    if records is None:
        file_only = {
            "--out": out_path is not None,
            "--events": events is not None,
            "--rejects": rejects is not None,
            "--catalogue": catalogue is not None,
            "--explain": explain,
        }
        given = [name for name, present in file_only.items() if present]
        if given:
            raise UsageError(
                f"{', '.join(given)} need{'s' if len(given) == 1 else ''} --records (file mode); "
                "without --records, evaluate runs over the registry's store (see --help)"
            )
        if engine not in ("duckdb", "spark"):
            raise UsageError(f"registry mode evaluates with --engine duckdb or spark, not {engine}")
        if len(scheme) != 1:
            raise UsageError("registry mode evaluates one published scheme: give --scheme once")
        registry_evaluate(scheme[0], as_of, known_at, db, as_json, engine, spark_master)
        return
    if as_of is None or out_path is None:
        raise UsageError(
            "file mode needs --as-of and --out (or leave out --records: registry mode)"
        )
    as_of_date = parse_as_of(as_of)
    known_at_us = parse_known_at(known_at)
    selected = get_engine(engine, spark_master=spark_master)
    loaded_catalogue = resolve_catalogue(catalogue)
    repeated = sorted({s for s in scheme if scheme.count(s) > 1})
    if repeated:
        raise UsageError(f"--scheme {repeated[0]} is given more than once")
    loaded = [resolve_scheme(s, catalogue=loaded_catalogue) for s in scheme]
    ids = [s.id for s in loaded]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})[0]
        raise UsageError(f"two --scheme files are both scheme {twice!r}")
    loaded_scheme, also = loaded[0], tuple(loaded[1:])
    with err.status(f"evaluating {', '.join(ids)} with the {selected.name} engine"):
        report, _ = evaluate_files(
            catalogue=loaded_catalogue,
            scheme=loaded_scheme,
            records=location(records),
            events=location(events) if events is not None else None,
            as_of=as_of_date,
            known_at_us=known_at_us,
            out=location(out_path),
            engine=selected,
            explain=explain,
            rejects=rejects,
            also=also,
        )
    rejected = len(report.record_rejections)
    err.print(
        f"records: {report.records_read} read, {report.records_accepted} accepted, "
        f"{report.records_noop} no-op repeats, {rejected} rejected"
    )
    if events is not None:
        err.print(
            f"events: {report.events_read} read, {report.events_accepted} accepted, "
            f"{len(report.event_rejections)} rejected"
        )
    for label, count in sorted(report.rejected_by_reason().items()):
        err.print(f"  rejected {count}: {label}")
    if report.record_rejections or report.event_rejections:
        where = f"in {rejects}" if rejects else "not written (use --rejects FILE to keep them)"
        err.print(f"rejected rows: {where}")
    err.print(f"subjects evaluated: {report.subjects}; standings in {out_path}")


@app.command()
def demo(
    persons: Annotated[int, typer.Option(help="Persons in the generated city.")] = 50_000,
    organisations: Annotated[
        int, typer.Option(help="Organisations in the generated city.")
    ] = 5_000,
    years: Annotated[int, typer.Option(help="Years of history.")] = 6,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same city).")] = 7,
    out_dir: Annotated[
        Path, typer.Option("--out", help="Folder for the city and its store.")
    ] = Path("demo-out"),
    serve: Annotated[
        bool,
        typer.Option(
            "--serve",
            help="Then create a demo credential for every role, print them with the portal's "
            "address, and serve the API and the portal.",
        ),
    ] = False,
    port: Annotated[int, typer.Option(help="The port to serve on (with --serve).")] = 8000,
) -> None:
    """Build a synthetic city into a fresh embedded registry (OUT/socialcredit.db): generate
    it, register its furnishers, ingest every file, evaluate every shipped scheme, and show
    the results and one listed person's standing, explained."""
    settings = Settings()
    result = build_demo(
        out_dir=out_dir,
        persons=persons,
        organisations=organisations,
        years=years,
        seed=seed,
        today=settings.today(),
        console=err,
        history_months=12 if serve else 0,
    )
    for batch in result.results:
        show_batch(batch)
    store = Store(result.db_url)
    example = _a_listed_person(store)
    if example is not None:
        out.print("\n[bold]One listed person, explained[/bold]")
        demo_reader = Reader("demo", "system", "demonstration of the registry")
        show_standing(
            standing_of(store, Settings(database_url=result.db_url), example, reader=demo_reader)
        )
    out.print(
        f"\nBuilt in {result.seconds:.0f} s. The registry is {result.db_url}; try:\n"
        f"  socialcredit standing {example or 'SUBJECT_ID'} --purpose 'trying the demo' "
        f"--db {result.db_url}\n"
        f"  socialcredit audit {example or 'SUBJECT_ID'} --purpose 'trying the demo' "
        f"--db {result.db_url}\n"
        f"  socialcredit evaluate --scheme rongcheng-person --db {result.db_url}\n"
        f"  socialcredit verify --db {result.db_url}"
    )
    if serve:
        serve_demo(result.db_url, example, port=port)


def _a_listed_person(store: Store) -> str | None:
    with store.reading() as connection:
        found = connection.scalar(
            sa.text(
                "SELECT s.identifier FROM standings t JOIN subjects s ON s.id = t.subject_id "
                "WHERE t.scheme_id = 'spc-defaulters' AND t.lists <> '[]' AND s.kind = 'person' "
                "ORDER BY s.identifier LIMIT 1"
            )
        )
    return None if found is None else str(found)


register_commands(app, policy_app)
register_service_commands(app)
register_exchange_commands(app)


def main() -> None:
    try:
        code = app(standalone_mode=False)
    except SocialCreditError as error:
        # The registry's messages name fields; the CLI adds the option that sets the field.
        option = f" (--{error.field.replace('_', '-')})" if error.field else ""
        err.print(f"error: {error}{option}", markup=False)
        sys.exit(error.exit_code)
    except ValidationError as error:  # the settings: environment, .env or options
        for problem in error.errors():
            field = ".".join(str(part) for part in problem["loc"])
            message = str(problem["msg"]).removeprefix("Value error, ")
            variable = f"SOCIALCREDIT_{field.upper()}"
            shown = message if message.startswith(variable) else f"{variable}: {message}"
            err.print(f"error: invalid setting {shown}", markup=False)
        sys.exit(2)
    except typer.Exit as done:
        sys.exit(done.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except typer.TyperException as error:  # usage errors: a missing option, a bad value
        show = getattr(error, "show", None)
        if callable(show):
            show()
        else:
            err.print(f"error: {error}", markup=False)
        sys.exit(int(getattr(error, "exit_code", 2)))
    sys.exit(code if isinstance(code, int) else 0)
