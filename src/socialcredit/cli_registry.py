"""The registry's commands: init, policy publish, furnisher, ingest, evaluate (registry mode),
standing, refresh, verify, demo-data. Thin layers over :mod:`socialcredit.registry`."""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from socialcredit.cli_common import Db, Json, err, out
from socialcredit.errors import UsageError
from socialcredit.evaluation import parse_as_of, parse_known_at
from socialcredit.policy.repair import rules_on, shipped_rules
from socialcredit.registry.admin import init_store, publish_files, scheme_texts
from socialcredit.registry.audit import Reader, reads_of
from socialcredit.registry.corrections import complete_correction, list_corrections
from socialcredit.registry.due_process import (
    Case,
    apply_repair,
    complete_repair,
    decide_objection,
    decide_repair,
    file_objection,
    queue,
)
from socialcredit.registry.export import export_ledger
from socialcredit.registry.ftm import export_ftm
from socialcredit.registry.impact import Impact, impact_of
from socialcredit.registry.ingest import IngestReport, ingest_events, ingest_records
from socialcredit.registry.notices import notices_of
from socialcredit.registry.notices import send as send_notices
from socialcredit.registry.policies import (
    add_furnisher,
    list_batches,
    list_furnishers,
)
from socialcredit.registry.publication import public_list, public_view
from socialcredit.registry.reports import issue_report
from socialcredit.registry.retention import plan as retention_plan
from socialcredit.registry.retention import run as erase_due
from socialcredit.registry.review import decide_review, list_reviews, request_review
from socialcredit.registry.standings.batch import BatchResult, evaluate_registry
from socialcredit.registry.standings.online import standing_of, view_json
from socialcredit.registry.standings.upkeep import refresh
from socialcredit.registry.verify import (
    checkpoint,
    read_checkpoint,
    verify_all,
    write_checkpoint,
)
from socialcredit.semantics.fields import PROBLEM_LABELS
from socialcredit.settings import Settings
from socialcredit.store.db import Store, us_to_iso


def open_store(db: str | None, *, ready: bool = True) -> tuple[Store, Settings]:
    settings = Settings(database_url=db) if db else Settings()
    store = Store(settings.database_url)
    if ready:
        store.check_ready()
    return store, settings


@contextmanager
def stage(label: str) -> Iterator[Callable[[str], None]]:
    """A spinner with the current step and the elapsed time, on stderr (a terminal only)."""
    if not err.is_terminal:
        yield lambda _step: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(label)
        yield lambda step: progress.update(task, description=f"{label}: {step}")


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def show_impact(found: Impact) -> None:
    """A scheme version's changes and impact, for `policy publish --dry-run`."""
    against = f"against version {found.replaces}" if found.replaces else "(a first version)"
    out.print(
        f"scheme {found.scheme_id} version {found.version} {against}, evaluated on "
        f"{found.on.isoformat()} over {found.subjects:,} subjects"
    )
    for change in found.changes:
        out.print(f"  {'harsher' if change.harsher else 'milder '}  {change.item}: {change.what}")
    if found.replaces and not found.changes:
        out.print("  no change is milder or harsher")
    for line in found.refused:
        out.print(f"  [bold]would be refused[/bold]: {line}")
    for label, counts in (("listed", found.listed), ("delisted", found.delisted)):
        for list_id, n in counts.items():
            out.print(f"  {label} on {list_id}: {n:,}")
    for move, n in found.grades.items():
        out.print(f"  grade {move}: {n:,}")
    for label, per in (("gain", found.measures_gained), ("lose", found.measures_lost)):
        for agency, measures in per.items():
            for measure, n in measures.items():
                out.print(f"  {label} {measure} ({agency}): {n:,}")
    moved = (found.listed, found.delisted, found.grades, found.measures_gained, found.measures_lost)
    if not any(moved):
        out.print("  no subject's standing would change")


def registry_evaluate(
    scheme_id: str,
    as_of: str | None,
    known_at: str | None,
    db: str | None,
    as_json: bool,
    engine: str = "duckdb",
    spark_master: str | None = None,
) -> None:
    store, settings = open_store(db)
    with stage(f"evaluating {scheme_id} with the {engine} engine") as step:
        result = evaluate_registry(
            store,
            settings,
            scheme_id,
            as_of=parse_as_of(as_of) if as_of else None,
            known_at_us=parse_known_at(known_at) if known_at else None,
            progress=step,
            engine=engine,
            spark_master=spark_master,
        )
    if as_json:
        print_json(_batch_json(result))
        return
    show_batch(result)


def _batch_json(result: BatchResult) -> dict[str, Any]:
    return {
        "scheme": result.scheme.id,
        "version": result.scheme.version,
        "as_of": result.as_of.isoformat(),
        "known_at": us_to_iso(result.known_at_us),
        "snapshot": result.snapshot_id,
        "current": result.current,
        "records": result.records,
        "events": result.events,
        "subjects": result.subjects,
        "grades": result.grades,
        "lists": result.list_sizes,
        "measures": result.measure_sizes,
        "seconds": {k: round(v, 3) for k, v in result.timings.items()},
        "peak_rss_mib": round(result.peak_rss_mib, 1),
    }


def show_batch(result: BatchResult) -> None:
    scheme = result.scheme
    table = Table(
        title=f"{scheme.id} v{scheme.version}: {scheme.title}\n"
        f"as of {result.as_of}, known at {us_to_iso(result.known_at_us)}",
        title_justify="left",
    )
    table.add_column("what")
    table.add_column("subjects", justify="right")
    table.add_row("evaluated", str(result.subjects))
    if scheme.score:
        for band in scheme.score.grades:
            table.add_row(f"grade {band.grade}", str(result.grades.get(band.grade, 0)))
    for lst in scheme.lists:
        table.add_row(f"{lst.kind} list {lst.id}", str(result.list_sizes.get(lst.id, 0)))
    for measure in scheme.measures:
        table.add_row(f"{measure.kind} {measure.id}", str(result.measure_sizes.get(measure.id, 0)))
    out.print(table)
    times = ", ".join(f"{k} {v:.2f} s" for k, v in result.timings.items())
    kept = f"snapshot {result.snapshot_id}" if result.snapshot_id else "no snapshot"
    current = "; these are now the current standings" if result.current else ""
    err.print(f"{result.records} records, {result.events} events; {times}; {kept}{current}")


def register_commands(app: typer.Typer, policy_app: typer.Typer) -> None:
    furnisher_app = typer.Typer(help="Register furnishers and the codes each may furnish.")
    ingest_app = typer.Typer(help="Ingest furnished records or events into the ledger.")
    app.add_typer(furnisher_app, name="furnisher")
    app.add_typer(ingest_app, name="ingest")

    @app.command()
    def init(db: Db = None, as_json: Json = False) -> None:
        """Create or migrate the store, and publish the shipped catalogue and schemes.

        Safe to run again: an up-to-date store and already published texts are left as they
        are. Current standings of any newly published scheme are evaluated."""
        store, settings = open_store(db, ready=False)
        done = init_store(store, settings)
        before, after, published, rebuilt = (
            done.schema_from,
            done.schema_to,
            done.published,
            done.evaluated,
        )
        if as_json:
            print_json(
                {
                    "store": store.describe(),
                    "schema": {"from": before, "to": after},
                    "published": [asdict(p) for p in published],
                }
            )
            return
        state = (
            "created"
            if before is None
            else ("already up to date" if before == after else f"migrated from {before}")
        )
        out.print(f"store {store.describe()}: schema {after}, {state}")
        for item in published:
            verb = "published" if item.new else "already published"
            out.print(f"  {item.kind} {item.policy_id} version {item.version}: {verb}")
        if rebuilt:
            out.print(f"  current standings evaluated: {', '.join(rebuilt)}")

    @policy_app.command("publish")
    def policy_publish(
        files: Annotated[list[Path], typer.Argument(help="Catalogue or scheme YAML files.")],
        reason: Annotated[
            str | None,
            typer.Option(
                help="Why the version is published (required unless --dry-run); recorded with "
                "it and in the admin log."
            ),
        ] = None,
        dry_run: Annotated[
            bool,
            typer.Option(
                "--dry-run",
                help="Publish nothing: show each scheme's changes against the version before, "
                "what would be refused, and its impact across the registry at its effective day "
                "(subjects listed and delisted, grade transitions, measures per agency). Exit 1 "
                "when it would be refused.",
            ),
        ] = False,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Validate and publish catalogue or scheme versions (all or none).

        A published version is never changed: the same text again is a no-op, a changed scheme
        needs a higher `version`. A new catalogue must keep every published scheme valid.
        A new scheme version is compared with the one before: a harsher one may not be
        back-dated, a harsher rule or list reaches only conduct from its effective_from, and a
        harsher band, measure or population needs SOCIALCREDIT_POLICY_NOTICE_DAYS of notice
        (docs/policy-language.md, "Lawful publication")."""
        store, settings = open_store(db)
        if dry_run:
            impacts = [
                impact_of(store, settings, text, source=str(path))
                for path, text in scheme_texts(files).items()
            ]
            if as_json:
                print_json({"impact": [i.to_json() for i in impacts]})
            else:
                for found in impacts:
                    show_impact(found)
            if any(i.refused for i in impacts):
                raise typer.Exit(1)
            return
        if not reason or not reason.strip():
            raise UsageError(
                "--reason is required to publish: say why the version is published "
                "(or look first with --dry-run)"
            )
        published, rebuilt = publish_files(
            store, settings, files, reason=reason, by=getpass.getuser()
        )
        if as_json:
            print_json({"published": [asdict(p) for p in published], "evaluated": rebuilt})
            return
        for path, item in zip(files, published, strict=True):
            verb = "published" if item.new else "already published, nothing changed"
            out.print(f"{path}: {item.kind} {item.policy_id} version {item.version} {verb}")
        if rebuilt:
            out.print(f"current standings evaluated: {', '.join(rebuilt)}")

    @furnisher_app.command("add")
    def furnisher_add(
        furnisher_id: Annotated[str, typer.Argument(metavar="ID", help="e.g. rongcheng-court")],
        name: Annotated[str, typer.Option(help="The institution's name.")],
        codes: Annotated[str, typer.Option(help="Comma-separated catalogue codes it may furnish.")],
        update: Annotated[
            bool, typer.Option("--update", help="Change an existing furnisher's name or codes.")
        ] = False,
        db: Db = None,
    ) -> None:
        """Register a furnisher and the codes it is authorised to furnish."""
        store, _ = open_store(db)
        with store.writing("admin_log") as connection:
            furnisher, what = add_furnisher(
                connection,
                furnisher_id,
                name,
                codes.split(","),
                update=update,
                by=getpass.getuser(),
            )
        out.print(
            f"furnisher {furnisher.id} ({furnisher.name}): {what}; codes: "
            f"{', '.join(furnisher.codes)}"
        )

    @furnisher_app.command("list")
    def furnisher_list(db: Db = None, as_json: Json = False) -> None:
        """List the registered furnishers and their codes."""
        store, _ = open_store(db)
        with store.reading() as connection:
            found = list_furnishers(connection)
        if as_json:
            print_json([asdict(f) for f in found])
            return
        table = Table("id", "name", "codes")
        for f in found:
            table.add_row(f.id, f.name, ", ".join(f.codes))
        out.print(table)

    @furnisher_app.command("batches")
    def furnisher_batches(
        furnisher_id: Annotated[
            str | None, typer.Argument(metavar="[ID]", help="One furnisher (default: all).")
        ] = None,
        limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """The latest ingest batches: who sent which file when, and how many rows were
        accepted, already known (no-op) or rejected."""
        store, _ = open_store(db)
        with store.reading() as connection:
            found = list_batches(connection, furnisher_id=furnisher_id, limit=limit)
        if as_json:
            print_json(
                [
                    {
                        **asdict(b),
                        "received": us_to_iso(b.received_us),
                        "rejection_rate": round(b.rejection_rate, 4),
                    }
                    for b in found
                ]
            )
            return
        table = Table(
            "batch",
            "furnisher",
            "kind",
            "file",
            "received",
            "rows",
            "added",
            "no-op",
            "rejected",
            title="batches",
        )
        for b in found:
            table.add_row(
                str(b.id),
                b.furnisher,
                b.kind,
                b.file,
                us_to_iso(b.received_us)[:19],
                str(b.rows_read),
                str(b.accepted),
                str(b.noop),
                f"{b.rejected} ({b.rejection_rate:.1%})",
            )
        out.print(table)

    def run_ingest(
        kind: str, path: Path, furnisher: str, rejects: Path | None, db: str | None, as_json: bool
    ) -> None:
        store, settings = open_store(db)
        ingest = ingest_records if kind == "records" else ingest_events
        with stage(f"ingesting {path.name}") as step:
            report = ingest(
                store,
                path,
                settings=settings,
                furnisher_id=furnisher,
                rejects=rejects,
                progress=step,
            )
        show_ingest(report, report.standings, as_json)

    @ingest_app.command("records")
    def ingest_records_command(
        path: Annotated[Path, typer.Argument(metavar="FILE", help=".csv, .jsonl or .parquet")],
        furnisher: Annotated[str, typer.Option(help="The furnisher sending the file.")],
        rejects: Annotated[
            Path | None,
            typer.Option(help="Where to write rejected rows (default: FILE.rejects.csv)."),
        ] = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Ingest records: columns record_id, subject_id, code, occurred_on, optional amount,
        furnisher (default: --furnisher), subject_name, region.

        Every rejected row is written with its row number, field and reason; the accepted rows
        commit atomically with their batch. The same file again adds nothing."""
        run_ingest("records", path, furnisher, rejects, db, as_json)

    @ingest_app.command("events")
    def ingest_events_command(
        path: Annotated[Path, typer.Argument(metavar="FILE", help=".csv, .jsonl or .parquet")],
        furnisher: Annotated[str, typer.Option(help="The furnisher sending the file.")],
        rejects: Annotated[
            Path | None,
            typer.Option(help="Where to write rejected rows (default: FILE.rejects.csv)."),
        ] = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Ingest events on the furnisher's records: columns record_id, event (fulfilled,
        repaired, retracted), date (not needed for retracted), furnisher (default:
        --furnisher)."""
        run_ingest("events", path, furnisher, rejects, db, as_json)

    @app.command()
    def standing(
        subject_id: Annotated[str, typer.Argument(metavar="SUBJECT_ID")],
        scheme: Annotated[
            str | None, typer.Option(help="One published scheme (default: every one).")
        ] = None,
        as_of: Annotated[
            str | None, typer.Option("--as-of", help="The date T (default: today).")
        ] = None,
        known_at: Annotated[
            str | None,
            typer.Option(
                "--known-at", help="As the registry knew it at this instant (default now)."
            ),
        ] = None,
        purpose: Purpose = "",
        actor: Actor = None,
        role: Role = "operator",
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """One subject's standing, evaluated now from the ledger, with every point and listing
        traced to its record and legal basis. The read is recorded in the access audit (who,
        in which role, why) before anything is shown."""
        store, settings = open_store(db)
        view = standing_of(
            store,
            settings,
            subject_id,
            reader=reader(actor, role, purpose),
            scheme_id=scheme,
            as_of=parse_as_of(as_of) if as_of else None,
            known_at_us=parse_known_at(known_at) if known_at else None,
        )
        if as_json:
            print_json(view_json(view))
            return
        show_standing(view)

    @app.command("report")
    def report_command(
        subject_id: Annotated[str, typer.Argument(metavar="SUBJECT_ID")],
        out_path: Annotated[Path, typer.Option("--out", help="The file to write.")],
        fmt: Annotated[
            str, typer.Option("--format", help="html, pdf or json.", show_default=True)
        ] = "pdf",
        purpose: Annotated[
            str, typer.Option("--purpose", help="Why the report is issued (audited).")
        ] = "report requested by the subject",
        actor: Actor = None,
        role: Role = "operator",
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Issue a subject's credit report: a plain-language summary, then the standing under
        every published scheme with each point and listing explained, every record with its
        status, legal basis and publication window, objections, repairs and reviews, notices,
        and who read the subject's data. Each issue is recorded; the subject's own requests count
        against the free reports of the year (SOCIALCREDIT_FREE_REPORTS_PER_YEAR, at least 2),
        an operator's do not."""
        store, settings = open_store(db)
        with stage(f"writing the {fmt} report"):
            issued = issue_report(
                store,
                settings,
                subject_id,
                fmt=fmt,
                out=out_path,
                reader=reader(actor, role, purpose),
            )
        if as_json:
            print_json({**asdict(issued), "path": str(issued.path)})
            return
        # The command line never reads as the subject (CLI_ROLES): its reports are the staff's.
        out.print(
            f"report {issued.id} about {issued.subject} written to {issued.path} "
            f"({issued.format}; issued by the registry's {role}: free of charge, not counted "
            "against the subject's free reports)"
        )

    export_app = typer.Typer(help="Write the registry's data out in interchange formats.")
    app.add_typer(export_app, name="export")

    @export_app.command("ledger")
    def export_ledger_command(
        out_dir: Annotated[Path, typer.Option("--out", help="The folder to write.")],
        purpose: Purpose,
        replace: Annotated[
            bool, typer.Option("--replace", help="Write over an existing export.")
        ] = False,
        actor: Actor = None,
        role: Role = "operator",
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Write the ledger's records and events as Parquet partitioned by region and month
        (OUT/records/region=R/month=YYYY-MM/…, OUT/events/…, OUT/manifest.json with the
        ledger's head hash): the interchange format for Spark and for other registries.
        Identifiers are in it in full: it is the registry's own data, not a public file, and
        the export is recorded in the access audit (who, why, how many subjects)."""
        store, _ = open_store(db)
        who = reader(actor, role, purpose)
        with stage("exporting the ledger"):
            done = export_ledger(store, out_dir, reader=who, replace=replace)
        if as_json:
            print_json({**asdict(done), "folder": str(done.folder)})
            return
        out.print(
            f"{done.records} records and {done.events} events in {done.partitions} "
            f"region-month partitions written to {done.folder} (ledger head {done.head_seq}, "
            f"{done.head_hash[:16]}…)"
        )

    @export_app.command("ftm")
    def export_ftm_command(
        out_file: Annotated[
            Path, typer.Option("--out", help="The file to write (FtM entities, JSON lines).")
        ],
        scheme: Annotated[
            str | None, typer.Option("--scheme", help="Only this scheme's public lists.")
        ] = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Write the public black lists of the schemes in force today as FollowTheMoney
        entities, one JSON object per line, for screening tools (yente, nomenklatura, Aleph):
        each listed organisation as a Company or Organization (its Unified Social Credit Code
        in registrationNumber, and in uscCode where FtM's check accepts it), each listed
        person only as the list shows them (masked name, no identifier), and a Sanction per
        listing (program, provisions = the measures, start and end dates, and for an
        organisation the published records behind it). Only what is public: no audit entry.
        Ids are stable across exports."""
        store, settings = open_store(db)
        with stage("exporting public lists") as step:
            done = export_ftm(store, settings, out_file, scheme_id=scheme, progress=step)
        if as_json:
            print_json({**asdict(done), "path": str(done.path)})
            return
        dropped = (
            f"; {done.usc_dropped} codes FtM's check refused are in registrationNumber only"
            if done.usc_dropped
            else ""
        )
        out.print(
            f"{done.lists} public lists on {done.on}: {done.organisations} organisations, "
            f"{done.persons} persons and {done.sanctions} sanctions written to {done.path}"
            f"{dropped}",
            markup=False,
        )

    @app.command("refresh")
    def refresh_command(db: Db = None, as_json: Json = False) -> None:
        """Re-evaluate every current standing whose day has come (run it daily), finish any
        interrupted post-ingest update, rebuild schemes with a new version in effect, and tell
        the subjects of objections that lapsed undecided and of late repair decisions and
        reviews (each told once)."""
        store, settings = open_store(db)
        with stage("refreshing") as step:
            result = refresh(store, settings, progress=step)
        if as_json:
            print_json(asdict(result))
            return
        out.print(
            f"{result.due} subjects due, {result.pending_batches} unfinished batches; "
            f"schemes re-evaluated: {', '.join(result.schemes_rebuilt) or 'none'}; "
            f"{result.written} standings written; subjects told of lapsed objections: "
            f"{result.objections_lapsed}, of late repair decisions: {result.repairs_late}, "
            f"of late reviews: {result.reviews_late}, of late corrections: "
            f"{result.corrections_late}"
        )

    erasure_app = typer.Typer(
        help="Retention that erases: a record's personal content is erased when its code's "
        "retention period (five years by default, credit-reporting regulation art. 16) has run "
        "since it stopped having effect in every scheme in force; a retracted record once the "
        "objection period for the retraction is over. Run `erasure run` daily, with `refresh`."
    )
    app.add_typer(erasure_app, name="erasure")

    @erasure_app.command("run")
    def erasure_run(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Only count what is due; erase nothing.")
        ] = False,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Erase every record whose retention has ended: its entries are blanked (record id,
        subject, amount; the digest the hash chain covers is kept, so `verify` still passes),
        the notices and cases that name it lose their text, the subject is told, and the same
        record is refused if furnished again. Entries from before migration 0013 are checked
        against their hash and erased under a seal the erased event records. Idempotent: a
        second run the same day erases nothing. A record under an open objection, repair or
        correction is held, and so is one whose old entry does not match its hash."""
        store, settings = open_store(db)
        if dry_run:
            found = retention_plan(store, settings)
            result: dict[str, Any] = {
                "day": found.day.isoformat(),
                "due": len(found.due),
                "held": [{"record_seq": s, "why": w} for s, w in found.held],
            }
            if as_json:
                print_json(result)
                return
            out.print(
                f"on {result['day']}: {result['due']} records due for erasure, "
                f"{len(found.held)} held by an open case"
            )
            return
        with stage("erasing") as step:
            done = erase_due(store, settings, progress=lambda n, total: step(f"{n:,}/{total:,}"))
        if as_json:
            print_json(asdict(done))
            return
        out.print(
            f"on {done.day.isoformat()}: {done.erased} records erased about {done.subjects} "
            f"subjects ({done.subjects_cleared} with nothing left: name and region erased); "
            f"{len(done.held)} held (an open case, or an entry that does not match its hash)"
        )
        for seq, why in done.held:
            out.print(f"  held: ledger entry {seq} ({why})", markup=False)

    public_app = typer.Typer(
        help="What the public may see: organisations' published records and public lists, "
        "persons masked."
    )
    app.add_typer(public_app, name="public")

    @public_app.command("subject")
    def public_subject(
        subject_id: Annotated[str, typer.Argument(metavar="SUBJECT_ID")],
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """What is public about a subject today: an organisation's records in their
        publication window and its public listings; for a person, only public listings, masked
        (never a score or grade)."""
        store, settings = open_store(db)
        view = public_view(store, settings, subject_id)
        if as_json:
            print_json(view.to_json())
            return
        out.print(f"[bold]{view.identifier}[/bold] {view.name or ''} ({view.kind}), on {view.on}")
        for record in view.records:
            out.print(
                f"  record {record.furnisher}/{record.record_id}: {record.title} "
                f"({record.occurred_on}), public until {record.published_until}; "
                f"basis: {record.legal_basis}",
                markup=False,
            )
        for listing in view.listings:
            out.print(
                f"  on the {listing.kind} list {listing.title} ({listing.scheme}/"
                f"{listing.list_id}) since {listing.since or '-'}, until {listing.until or '-'}",
                markup=False,
            )
        if not view.records and not view.listings:
            out.print("  nothing is public about this subject today")

    @public_app.command("list")
    def public_list_command(
        scheme: Annotated[str, typer.Argument(help="The scheme id.")],
        list_id: Annotated[str, typer.Argument(metavar="LIST_ID")],
        page: Annotated[int, typer.Option(min=1, help="Which page, from 1.")] = 1,
        per_page: Annotated[
            int, typer.Option(min=1, max=500, help="Members per page (at most 500).")
        ] = 100,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """One page of the members of a public list today, in identifier order, persons
        masked, with the total. Read-only."""
        store, settings = open_store(db)
        found = public_list(store, settings, scheme, list_id, page=page, per_page=per_page)
        if as_json:
            print_json({**asdict(found), "pages": found.pages})
            return
        table = Table(
            "identifier",
            "name",
            "kind",
            "since",
            "until",
            title=f"{scheme}/{list_id} on {found.on}: {found.total} members, page {found.page} "
            f"of {found.pages}",
        )
        for m in found.members:
            table.add_row(m.identifier, m.name or "", m.kind, m.since or "", m.until or "")
        out.print(table)

    notices_app = typer.Typer(help="Notices to subjects: read the outbox, send it on.")
    app.add_typer(notices_app, name="notices")

    @notices_app.command("list")
    def notices_list(
        subject_id: Annotated[str, typer.Argument(metavar="SUBJECT_ID")],
        purpose: Purpose = "",
        actor: Actor = None,
        role: Role = "operator",
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """The notices sent (or waiting) for a subject, oldest first: negative records
        furnished, listings and delistings, grade changes. The read is audited."""
        store, _ = open_store(db)
        found = notices_of(store, reader(actor, role, purpose), subject_id)
        if as_json:
            print_json([{**asdict(n), "created": us_to_iso(n.created_us)} for n in found])
            return
        for n in found:
            state = f"sent ({n.channel})" if n.sent_us else "in the outbox"
            out.print(f"{us_to_iso(n.created_us)} [{n.kind}] {n.text} — {state}", markup=False)
        if not found:
            out.print("no notices")

    @notices_app.command("send")
    def notices_send(
        to: Annotated[str, typer.Option("--to", help="The channel: file:PATH (JSON lines).")],
        db: Db = None,
    ) -> None:
        """Hand every unsent notice to a channel and mark it sent."""
        store, _ = open_store(db)
        count = send_notices(store, to)
        out.print(f"{count} notices sent to {to}")

    review_app = typer.Typer(
        help="Human review of a standing: the subject's request, the queue, the decision."
    )
    app.add_typer(review_app, name="review")

    @review_app.command("request")
    def review_request(
        subject_id: Annotated[str, typer.Argument(metavar="SUBJECT_ID")],
        reason: Annotated[str, typer.Option(help="What the subject finds wrong.")],
        scheme: Annotated[
            str | None, typer.Option(help="One scheme's standing (default: all).")
        ] = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Ask that a person review a standing instead of the automated evaluation alone; the
        request gets a deadline in working days."""
        store, settings = open_store(db)
        found = request_review(store, settings, subject_id, reason=reason, scheme_id=scheme)
        if as_json:
            print_json(asdict(found))
            return
        out.print(f"review {found.id} requested for {found.subject}; due by {found.due}")

    @review_app.command("list")
    def review_list(
        overdue: Annotated[bool, typer.Option("--overdue", help="Only the late ones.")] = False,
        purpose: CasePurpose = "case work",
        actor: Actor = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """The open review requests, overdue first, then by deadline."""
        store, settings = open_store(db)
        found = list_reviews(
            store, settings, reader=reader(actor, "operator", purpose), overdue_only=overdue
        )
        if as_json:
            print_json([asdict(r) for r in found])
            return
        table = Table("id", "subject", "scheme", "due", "state", "reason", title="reviews")
        for r in found:
            state = "[bold red]OVERDUE[/bold red]" if r.overdue else "open"
            table.add_row(str(r.id), r.subject, r.scheme_id or "all", str(r.due), state, r.reason)
        out.print(table)

    @review_app.command("decide")
    def review_decide(
        review_id: Annotated[int, typer.Argument(metavar="ID")],
        reason: Annotated[str, typer.Option(help="Why, in words the subject will read.")],
        by: Annotated[str, typer.Option(help="Who decided.")],
        confirm: Annotated[
            bool, typer.Option("--confirm", help="The standing is right as evaluated.")
        ] = False,
        correct: Annotated[
            bool,
            typer.Option("--correct", help="The standing is wrong: correct the --record."),
        ] = False,
        record: Annotated[
            str | None,
            typer.Option(
                metavar="FURNISHER/RECORD_ID",
                help="With --correct: the record found wrong. It is retracted, and its "
                "furnisher is asked for the corrected record.",
            ),
        ] = None,
        db: Db = None,
    ) -> None:
        """Decide a review once: --confirm, or --correct --record REF (the record is retracted
        and its furnisher asked for the corrected one), with a reason the subject is told."""
        if confirm == correct:
            raise UsageError("give exactly one of --confirm and --correct")
        store, settings = open_store(db)
        found = decide_review(
            store,
            settings,
            review_id,
            outcome="confirmed" if confirm else "corrected",
            reason=reason,
            by=by,
            record=record,
        )
        out.print(f"review {found.id}: {found.outcome} by {found.decided_by}; the subject is told")
        if found.record:
            out.print(
                f"{found.record} retracted; its furnisher is asked for the corrected record "
                "(socialcredit correction list)",
                markup=False,
            )

    correction_app = typer.Typer(
        help="Corrections: records a review found wrong, retracted, awaiting the corrected one."
    )
    app.add_typer(correction_app, name="correction")

    @correction_app.command("list")
    def correction_list(
        furnisher: Annotated[str | None, typer.Option(help="Only this furnisher's tasks.")] = None,
        every: Annotated[bool, typer.Option("--all", help="Completed ones too.")] = False,
        purpose: CasePurpose = "case work",
        actor: Actor = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """The furnishers' correction tasks, overdue first: the record retracted, the subject,
        the date the corrected record is due, and once sent, the record that corrects it."""
        store, settings = open_store(db)
        found = list_corrections(
            store,
            settings,
            reader=reader(actor, "operator", purpose),
            furnisher=furnisher,
            open_only=not every,
        )
        if as_json:
            print_json([asdict(c) for c in found])
            return
        table = Table("id", "furnisher", "record", "subject", "due", "state", title="corrections")
        for c in found:
            state = (
                f"corrected by {c.replacement}"
                if c.replacement
                else ("[bold red]OVERDUE[/bold red]" if c.overdue else "open")
            )
            table.add_row(str(c.id), c.furnisher, c.record, c.subject, str(c.due), state)
        out.print(table)

    @correction_app.command("done")
    def correction_done(
        correction_id: Annotated[int, typer.Argument(metavar="ID")],
        record: Annotated[
            str,
            typer.Option(metavar="FURNISHER/RECORD_ID", help="The corrected record, sent."),
        ],
        by: Annotated[str, typer.Option(help="Who completes it.")],
        db: Db = None,
    ) -> None:
        """Name the corrected record the furnisher sent (ingested after the task was opened);
        the task is completed and the subject told."""
        store, settings = open_store(db)
        done = complete_correction(store, settings, correction_id, replacement=record, by=by)
        out.print(f"correction {done.id}: {done.record} corrected by {done.replacement}")

    objection_app = typer.Typer(help="Objections to records: file, the queue, the decision.")
    repair_app = typer.Typer(help="Credit repair: apply, the queue, the decision.")
    app.add_typer(objection_app, name="objection")
    app.add_typer(repair_app, name="repair")

    def _late(case: Case) -> str | None:
        if not case.overdue:
            return None
        if case.lapses_on is not None:
            return f"LAPSED {case.lapses_on}: the record has no effect until decided"
        return "OVERDUE: decide first"

    def show_case(case: Case, as_json: bool) -> None:
        if as_json:
            print_json(asdict(case))
            return
        state = case.outcome or _late(case) or "open"
        out.print(
            f"{case.kind} {case.id}: {case.subject} {case.record} — {state}, due {case.due}"
            + (f"; {case.decision_reason} ({case.decided_by})" if case.outcome else ""),
            markup=False,
        )

    def show_queue(cases: list[Case], as_json: bool, title: str) -> None:
        if as_json:
            print_json([asdict(c) for c in cases])
            return
        table = Table("id", "subject", "record", "due", "state", "why", title=title)
        for c in cases:
            state = f"[bold red]{_late(c)}[/bold red]" if c.overdue else "open"
            table.add_row(str(c.id), c.subject, c.record, str(c.due), state, c.text)
        out.print(table)

    @objection_app.command("file")
    def objection_file(
        subject_id: Annotated[str, typer.Argument(metavar="SUBJECT_ID")],
        record: Annotated[str, typer.Argument(metavar="FURNISHER/RECORD_ID")],
        reason: Annotated[str, typer.Option(help="What is wrong with the record.")],
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Object to a record. It shows as under objection until decided, within the
        deadline (SOCIALCREDIT_OBJECTION_DAYS, at most 20 days); undecided by then, the
        objection lapses and from the next day the record has no effect in any scheme until
        it is decided."""
        store, settings = open_store(db)
        show_case(file_objection(store, settings, subject_id, record, reason=reason), as_json)

    @objection_app.command("list")
    def objection_list(
        overdue: Annotated[bool, typer.Option("--overdue", help="Only the late ones.")] = False,
        purpose: CasePurpose = "case work",
        actor: Actor = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Open objections, overdue first, then by deadline."""
        store, settings = open_store(db)
        found = queue(
            store,
            settings,
            "objection",
            reader=reader(actor, "operator", purpose),
            overdue_only=overdue,
        )
        show_queue(found, as_json, "objections")

    @objection_app.command("decide")
    def objection_decide(
        case_id: Annotated[int, typer.Argument(metavar="ID")],
        reason: Annotated[str, typer.Option(help="Why, in words the subject will read.")],
        by: Annotated[str, typer.Option(help="Who decided.")],
        uphold: Annotated[
            bool, typer.Option("--uphold", help="The record is wrong: retract it.")
        ] = False,
        reject: Annotated[bool, typer.Option("--reject", help="The record stands.")] = False,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Decide an objection once. Upheld: the record is retracted in the ledger and the
        standings updated at once. Rejected: the record stays, the reason shown."""
        if uphold == reject:
            raise UsageError("give exactly one of --uphold and --reject")
        store, settings = open_store(db)
        show_case(
            decide_objection(store, settings, case_id, uphold=uphold, reason=reason, by=by),
            as_json,
        )

    @repair_app.command("apply")
    def repair_apply(
        subject_id: Annotated[str, typer.Argument(metavar="SUBJECT_ID")],
        record: Annotated[str, typer.Argument(metavar="FURNISHER/RECORD_ID")],
        evidence: Annotated[str, typer.Option(help="What shows the record may be repaired.")],
        commitment: Annotated[
            bool, typer.Option("--commitment", help="The subject gives a credit commitment.")
        ] = False,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Apply for credit repair of a record. Every unmet condition is explained: repairable
        code, obligation fulfilled, minimum publication period passed, commitment given."""
        store, settings = open_store(db)
        show_case(
            apply_repair(
                store, settings, subject_id, record, evidence=evidence, commitment=commitment
            ),
            as_json,
        )

    @repair_app.command("list")
    def repair_list(
        overdue: Annotated[bool, typer.Option("--overdue", help="Only the late ones.")] = False,
        purpose: CasePurpose = "case work",
        actor: Actor = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Open repair applications, overdue first, then by deadline."""
        store, settings = open_store(db)
        found = queue(
            store,
            settings,
            "repair",
            reader=reader(actor, "operator", purpose),
            overdue_only=overdue,
        )
        show_queue(found, as_json, "repairs")

    @repair_app.command("complete")
    def repair_complete(
        case_id: Annotated[int, typer.Argument(metavar="ID")],
        by: Annotated[str, typer.Option(help="Who examined the file.")],
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Find a repair application's file complete (the evidence examined): the decision is
        then due within SOCIALCREDIT_REPAIR_DECISION_DAYS working days (at most 3), and the
        subject is told. An incomplete file is denied with its reason."""
        store, settings = open_store(db)
        show_case(complete_repair(store, settings, case_id, by=by), as_json)

    @repair_app.command("decide")
    def repair_decide(
        case_id: Annotated[int, typer.Argument(metavar="ID")],
        reason: Annotated[str, typer.Option(help="Why, in words the subject will read.")],
        by: Annotated[str, typer.Option(help="Who decided.")],
        grant: Annotated[bool, typer.Option("--grant", help="Repair the record today.")] = False,
        deny: Annotated[bool, typer.Option("--deny", help="The record stands.")] = False,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Decide a repair application once. Granted: a repaired event dated today; the
        record's publication, lists and points end."""
        if grant == deny:
            raise UsageError("give exactly one of --grant and --deny")
        store, settings = open_store(db)
        show_case(
            decide_repair(store, settings, case_id, grant=grant, reason=reason, by=by), as_json
        )

    @repair_app.command("rules")
    def repair_rules(
        on: Annotated[
            str | None,
            typer.Option(help="The day whose rules are marked in force (default: today)."),
        ] = None,
        as_json: Json = False,
    ) -> None:
        """The publication tiers and repair conditions, version by version, with the legal
        basis of each (NDRC Order No. 58; from 2026-04-01 NDRC Order No. 36). Applications,
        decisions and reports use the version in force on their day."""
        if on is None:
            day = Settings().today()
        else:
            try:
                day = date.fromisoformat(on)
            except ValueError:
                raise UsageError(f"--on {on!r} is not a date YYYY-MM-DD", field="on") from None
        current = rules_on(day)
        versions = shipped_rules()
        if as_json:
            print_json(
                [
                    {
                        "effective": v.effective.isoformat(),
                        "until": v.until.isoformat() if v.until else None,
                        "in_force": v is current,
                        "legal_basis": str(v.basis),
                        "basis": v.cite(),
                        "tiers": {
                            t.severity: {
                                "published": t.published,
                                "publication": str(t.publication),
                                "repair_after": str(t.repair_after) if t.repair_after else None,
                            }
                            for t in v.tiers.values()
                        },
                    }
                    for v in versions
                ]
            )
            return
        for version in versions:
            until = f" until {version.until - timedelta(days=1)}" if version.until else ""
            mark = f" — in force on {day}" if version is current else ""
            table = Table(title=f"from {version.effective}{until}{mark}\n{version.cite()}")
            for column in ("severity", "published", "longest publication", "repair after"):
                table.add_column(column)
            for tier in version.tiers.values():
                table.add_row(
                    tier.severity,
                    "yes" if tier.published else "not in principle",
                    str(tier.publication),
                    str(tier.repair_after) if tier.repair_after else "at once",
                )
            out.print(table)

    @app.command("audit")
    def audit_command(
        subject_id: Annotated[str, typer.Argument(metavar="SUBJECT_ID")],
        purpose: Purpose = "",
        actor: Actor = None,
        role: Role = "operator",
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Who read this subject's data: when, who, in which role, why and what. The listing is
        itself a read, recorded in the audit."""
        store, _ = open_store(db)
        found = reads_of(store, reader(actor, role, purpose), subject_id)
        if as_json:
            print_json([{**asdict(r), "at": us_to_iso(r.at_us)} for r in found])
            return
        table = Table("when", "actor", "role", "purpose", "what", title=f"reads of {subject_id}")
        for r in found:
            table.add_row(us_to_iso(r.at_us), r.actor, r.role, r.purpose, r.what)
        out.print(table)

    @app.command("verify")
    def verify_command(
        checkpoint_out: Annotated[
            Path | None,
            typer.Option(
                "--checkpoint",
                metavar="FILE",
                help="Also write the three chains' heads to FILE (JSON) once verified: a "
                "document to publish, for --against later.",
            ),
        ] = None,
        against: Annotated[
            Path | None,
            typer.Option(
                metavar="FILE",
                help="Prove the chains extend this earlier checkpoint: a history rewritten "
                "after it fails, even when it is consistent in itself.",
            ),
        ] = None,
        db: Db = None,
        as_json: Json = False,
    ) -> None:
        """Check everything agencies and subjects are shown against its source: the ledger,
        audit and admin chains (recomputed, heads anchored), the credentials, sessions,
        furnishers and policy versions against the admin log, objections and repairs against
        the ledger, and the stored current standings against a fresh evaluation. Exits 1
        naming every problem found."""
        store, settings = open_store(db)
        earlier = read_checkpoint(against) if against is not None else None
        with stage("verifying") as step:
            outcome = verify_all(store, settings, against=earlier, progress=step)
        if as_json:
            print_json(
                {
                    "intact": outcome.intact,
                    "chains": [asdict(c) for c in outcome.chains],
                    "admin": outcome.admin,
                    "cases": outcome.cases,
                    "standings": outcome.standings,
                    "standings_checked": outcome.standings_checked,
                    "checkpoint": outcome.checkpoint,
                }
            )
        else:
            show_verification(outcome, against)
        if not outcome.intact:
            raise typer.Exit(1)
        if checkpoint_out is not None:
            write_checkpoint(checkpoint_out, checkpoint(store, settings))
            if not as_json:
                out.print(f"checkpoint written to {checkpoint_out}")

    @app.command("demo-data")
    def demo_data(
        out_dir: Annotated[Path, typer.Option("--out", help="Folder for the files.")],
        persons: Annotated[int, typer.Option(help="Persons in the city.")] = 50_000,
        organisations: Annotated[int, typer.Option(help="Organisations in the city.")] = 5_000,
        years: Annotated[int, typer.Option(help="Years of history.")] = 6,
        seed: Annotated[int, typer.Option(help="Random seed (same seed, same city).")] = 7,
        until: Annotated[
            str | None, typer.Option(help="Last day of the history (default: today).")
        ] = None,
    ) -> None:
        """Write a synthetic city: furnishers.csv, and per furnisher a records and an events
        file, with valid identifiers, Chinese names and company names."""
        from socialcredit.demo_city import generate_city

        settings = Settings()
        with stage("generating the city") as step:
            city = generate_city(
                out_dir,
                persons=persons,
                organisations=organisations,
                years=years,
                seed=seed,
                until=parse_as_of(until) if until else settings.today(),
                progress=step,
            )
        out.print(
            f"{city.persons} persons, {city.organisations} organisations, {city.records} "
            f"records and {city.events} events from {len(city.furnishers)} furnishers in "
            f"{out_dir}/"
        )


Purpose = Annotated[
    str,
    typer.Option(
        "--purpose",
        help="Why this subject's data is read (required; recorded in the access audit).",
        show_default=False,
    ),
]
CasePurpose = Annotated[
    str,
    typer.Option("--purpose", help="Why the queue is read (recorded in the access audit)."),
]
Actor = Annotated[
    str | None,
    typer.Option(
        "--actor",
        help="Your name as the audit should show it, beside your login name "
        "(recorded as 'LOGIN (NAME)').",
        show_default=False,
    ),
]
Role = Annotated[str, typer.Option("--role", help="The reader's role: operator, agency or system.")]
# A subject reads their own data with their own key (the portal or /v1/me): the command line,
# run by the registry's staff, never reads as the subject.
CLI_ROLES = ("operator", "agency", "system")


def reader(actor: str | None, role: str, purpose: str) -> Reader:
    """The audit's reader for a command: the operating-system user (whom the command line
    cannot choose), with the name declared by --actor beside it."""
    if not purpose.strip():
        raise UsageError(
            "--purpose is required: every read of a subject's data is recorded with why it was "
            "read, e.g. --purpose 'objection review'"
        )
    if role not in CLI_ROLES:
        raise UsageError(
            f"the command line reads as {', '.join(CLI_ROLES)}, not as {role!r}: a subject "
            "reads their own data with their own key, in the portal or at /v1/me"
        )
    login = getpass.getuser()
    declared = (actor or "").strip()
    return Reader(
        f"{login} ({declared})" if declared and declared != login else login, role, purpose
    )


def show_verification(outcome: Any, against: Path | None) -> None:
    for checked in outcome.chains:
        name = checked.chain.replace("_", " ")
        if checked.problem is None:
            out.print(f"{name} intact: {checked.entries} entries; head hash {checked.head_hash}")
        else:
            err.print(f"{name} TAMPERED at entry {checked.seq}: {checked.problem}", markup=False)
    sections: list[tuple[str, list[str], str]] = [
        ("admin state", outcome.admin, "credentials, sessions, furnishers and policies match"),
        ("cases", outcome.cases, "objections and repairs match the ledger"),
        (
            "current standings",
            outcome.standings,
            f"{outcome.standings_checked} stored standings match a fresh evaluation",
        ),
    ]
    if against is not None:
        sections.append(("checkpoint", outcome.checkpoint, f"the chains extend {against}"))
    for label, problems, fine in sections:
        if not problems:
            out.print(f"{label}: {fine}")
        for problem in problems:
            err.print(f"{label} DIFFERS: {problem}", markup=False)


def show_ingest(report: IngestReport, standings_note: str, as_json: bool) -> None:
    if as_json:
        data = asdict(report)
        data.pop("_stage", None)
        data.pop("_since", None)
        data["rejections"] = len(report.rejections)
        data["rejects_path"] = str(report.rejects_path) if report.rejects_path else None
        data["standings"] = standings_note
        print_json(data)
        return
    for warning in report.warnings:
        err.print(f"warning: {warning}")
    if report.duplicate_of is not None:
        out.print(
            f"{report.file}: already ingested as batch {report.duplicate_of} at "
            f"{report.recorded_at}; nothing added"
        )
        return
    out.print(
        f"{report.file}: batch {report.batch_id} from {report.furnisher}, recorded at "
        f"{report.recorded_at}: {report.rows_read} rows read, {report.accepted} {report.kind} "
        f"added, {report.noop} already in the ledger (no-op), {report.rejected} rejected"
    )
    if report.rejections:
        counts: dict[str, int] = {}
        for r in report.rejections:
            label = f"{r.field}: {PROBLEM_LABELS[r.problem]}"
            counts[label] = counts.get(label, 0) + 1
        for label, count in sorted(counts.items()):
            out.print(f"  rejected {count}: {label}")
        out.print(f"  every rejected row with its reason: {report.rejects_path}")
    out.print(f"  {standings_note}")


def show_standing(view: Any) -> None:
    facts = view.facts
    out.print(
        f"[bold]{facts.identifier}[/bold] ({facts.kind}) as of {view.as_of}, as known at "
        f"{us_to_iso(view.known_at_us)}"
    )
    for ref, case_id in sorted(view.under_objection.items()):
        out.print(f"record {ref}: UNDER OBJECTION {case_id} (until decided)", markup=False)
    if not view.results:
        out.print("no published scheme applies to this subject")
    for sid, evaluated in view.results.items():
        scheme, s = evaluated.scheme, evaluated.standing
        out.print(f"\n[bold]{sid}[/bold] v{scheme.version}: {scheme.title}")
        if not evaluated.in_population:
            out.print(f"  not in the scheme's population: {evaluated.outside}", markup=False)
            if evaluated.holds_until is not None:
                out.print(f"  evaluated from {evaluated.holds_until.isoformat()}")
            continue
        if s is None:
            out.print("  not evaluated: no record visible at that time")
            continue
        if s.score is not None:
            out.print(f"  score {s.score}, grade {s.grade}")
        out.print(f"  lists: {', '.join(s.lists) or 'none'}")
        out.print(f"  measures: {', '.join(s.measures) or 'none'}")
        holds = evaluated.holds_until.isoformat() if evaluated.holds_until else "no end"
        out.print(f"  holds without new data until: {holds}")
        for other_sid, list_id, title in evaluated.barred_by:
            out.print(
                f"  on black list {list_id} ({title}) of {other_sid}: on no red list and without "
                "incentives of this scheme while listed (no joint incentive for the dishonest)",
                markup=False,
            )
        explanation = s.explanation or {}
        titles = {lst.id: lst.title for lst in scheme.lists}
        for item in explanation.get("records", []):
            points = item["points"]
            what = f"{points:+d} points until {item['ends']}" if points is not None else "listing"
            ref = f"{item['furnisher']}/{item['record_id']}"
            marked = (
                f" [UNDER OBJECTION {view.under_objection[ref]}]"
                if ref in view.under_objection
                else ""
            )
            out.print(f"  - {ref} {item['code']}: {what}{marked}", markup=False)
            if item["legal_basis"]:
                out.print(f"      basis: {item['legal_basis']}", markup=False)
            for list_id, end in item["lists"].items():
                out.print(
                    f"      keeps it on {list_id} ({titles.get(list_id)}) until {end}", markup=False
                )
        for code, adjustment in explanation.get("cap_adjustments", {}).items():
            out.print(f"  - cap on {code}: {adjustment:+d}")
        for measure_id, triggers in explanation.get("measures", {}).items():
            measure = next(m for m in scheme.measures if m.id == measure_id)
            out.print(
                f"  measure {measure_id} at {measure.agency} ({measure.title}), because "
                f"{', '.join(triggers)}; basis: {measure.legal_basis}",
                markup=False,
            )
