"""The public data files (METHODS.md §6 and more), the workbook, the codebook and the zip.

Everything is read in a fixed number of queries whatever the size of the study (the
ratings in one), shaped with pandas and written in bulk: no query and no Python object per
rating beyond the row tuples the database driver returns. Panelists appear under their
pseudonyms only; comments are scrubbed of e-mail addresses and panelists' names.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from reports import selectors, xlsx
from reports.stamp import SOFTWARE, Stamp, stamp_lines
from rounds import consensus, csvio
from rounds import selectors as round_selectors
from rounds.models import Protocol, Result, Study

RATINGS_COLUMNS = list(csvio.RATINGS_COLUMNS)
RESULTS_COLUMNS = [*csvio.RESULTS_COLUMNS, "margin", *selectors.DECISION_COLUMNS]
COMMENTS_COLUMNS = list(selectors.COMMENT_COLUMNS)
PROPOSALS_COLUMNS = list(round_selectors.PROPOSAL_COLUMNS)
STABILITY_COLUMNS = [
    "round",
    "prev_round",
    "item",
    "criterion",
    "n_prev",
    "n",
    "pct_change",
    "stable",
    "n_paired",
    "wilcoxon_p",
    "wilcoxon_p_holm",
    "mcnemar_p",
    "mcnemar_p_holm",
    "cv_prev",
    "cv",
    "cv_change",
]
RULE_LABELS = [rule.label for rule in consensus.ALL_RULES]
RULE_NAMES = {label: label.replace(":", "_") for label in RULE_LABELS}
RULES_COLUMNS = ["round", "item", "criterion"] + [
    column for label in RULE_LABELS for column in (RULE_NAMES[label], f"{RULE_NAMES[label]}_margin")
]
CONTENT_TYPES = {
    "pdf": "application/pdf",
    "zip": "application/zip",
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "txt": "text/plain; charset=utf-8",
    "json": "application/json",
}
WORKBOOK = "data.xlsx"


@dataclass
class Tables:
    """The study's data, shaped as the public files."""

    ratings: pd.DataFrame
    results: pd.DataFrame
    comments: pd.DataFrame
    stability: pd.DataFrame
    rules: pd.DataFrame
    protocol: list[tuple[str, Any]]
    proposals: pd.DataFrame | None = None  # round 0's; None or empty: the study had none


def collect_tables(study: Study, *, ratings: pd.DataFrame | None = None) -> Tables:
    """Every table of the exports, in six queries (five when ``ratings`` is given)."""
    if ratings is None:
        ratings = round_selectors.ratings_frame(study=study)
    results, stability, rules = _result_tables(study)
    scrub = round_selectors.panel_scrubber(study)
    comments = round_selectors.comments_frame(study=study, scrub=scrub)
    return Tables(
        ratings=ratings,
        results=results,
        comments=comments[COMMENTS_COLUMNS],
        stability=stability,
        rules=rules,
        protocol=protocol_rows(study),
        proposals=round_selectors.proposals_frame(study=study, scrub=scrub),
    )


def _result_tables(study: Study) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = Result.objects.filter(round__study=study).values_list(
        "stats", "margin", "stability", "all_rules"
    )
    results, stability, rules = [], [], []
    for stats, margin, stab, all_rules in rows:
        key = {
            "round": stats.get("round"),
            "item": stats.get("item"),
            "criterion": stats.get("criterion"),
        }
        results.append({**stats, "margin": margin})
        if stab:
            stability.append({**stab, **key})
        if all_rules:
            rules.append({**key, **{_rule_column(k): v for k, v in all_rules.items()}})
    order = ["round", "item", "criterion"]
    measured = pd.DataFrame.from_records(results, columns=RESULTS_COLUMNS[:-2])
    return (
        selectors.with_decisions(study, measured).sort_values(order, ignore_index=True),
        pd.DataFrame.from_records(stability, columns=STABILITY_COLUMNS).sort_values(
            order, ignore_index=True
        ),
        pd.DataFrame.from_records(rules, columns=RULES_COLUMNS).sort_values(
            order, ignore_index=True
        ),
    )


def _rule_column(key: str) -> str:
    label, margin, _ = key.partition("_margin")
    return f"{RULE_NAMES.get(label, label)}{margin}"


def protocol_rows(study: Study) -> list[tuple[str, Any]]:
    """The consensus protocol as (setting, value) rows, criteria included."""
    protocol = Protocol.objects.get(study=study)
    protocol.study = study
    data = protocol.as_dict()
    rows: list[tuple[str, Any]] = [("study", study.slug)]
    for name, value in data.items():
        if name != "criteria":
            rows.append((name, value))
    rows.append(("locked_at", protocol.locked_at.isoformat() if protocol.locked_at else ""))
    for criterion in data["criteria"]:
        code = criterion["code"]
        low_max, high_min = criterion["bands"]
        lo, hi = criterion["scale"]
        rows.extend(
            [
                (f"criterion.{code}.scale", f"{lo}-{hi}"),
                (f"criterion.{code}.low_band", f"{lo}-{low_max}"),
                (f"criterion.{code}.high_band", f"{high_min}-{hi}"),
                (f"criterion.{code}.rule", criterion["rule"]),
            ]
        )
    return rows


# --------------------------------------------------------------------------- CSV


def table_csv(frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    """A CSV of ``columns``, cells formatted as `rounds.csvio` does (booleans true/false,
    numbers with 10 significant digits, empty for missing)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    values = zip(*(frame[c].tolist() for c in columns), strict=True)
    writer.writerows([csvio.format_number(v) for v in row] for row in values)
    return buffer.getvalue().encode("utf-8")


def write_ratings_csv(study: Study, path: Path) -> None:
    path.write_bytes(csvio.ratings_csv(round_selectors.ratings_frame(study=study)))


def write_results_csv(study: Study, path: Path) -> None:
    path.write_bytes(table_csv(selectors.results_frame(study), RESULTS_COLUMNS))


# --------------------------------------------------------------------------- codebook

_CODEBOOK: list[tuple[str, str, str, str]] = [
    ("ratings.csv", "round", "integer", "Round number, from 1."),
    ("ratings.csv", "panelist", "text", "Pseudonym of the panelist (e.g. P017); never a name "
     "or an e-mail address. The same panelist keeps the same pseudonym in every file."),
    ("ratings.csv", "group", "text", "Stakeholder group of the panelist, as imported by the "
     "coordinators; empty when none was given."),
    ("ratings.csv", "item", "text", "Item code."),
    ("ratings.csv", "criterion", "text", "Criterion code (e.g. acceptability, priority)."),
    ("ratings.csv", "value", "integer", "Rating on the criterion's scale (see the protocol); "
     "empty for 'don't know' or no answer. Only ratings of panelists who submitted the "
     "round are included, as in the analysis."),
    ("results.csv", "round", "integer", "Round number."),
    ("results.csv", "item", "text", "Item code."),
    ("results.csv", "criterion", "text", "Criterion code."),
    ("results.csv", "n", "integer", "Number of ratings on the scale."),
    ("results.csv", "n_missing", "integer", "Number of 'don't know' or missing answers."),
    ("results.csv", "mean", "number", "Mean rating."),
    ("results.csv", "sd", "number", "Sample standard deviation (ddof = 1); empty when n < 2."),
    ("results.csv", "median", "number", "Median, with the study's quantile method."),
    ("results.csv", "q1", "number", "25th percentile."),
    ("results.csv", "q3", "number", "75th percentile."),
    ("results.csv", "iqr", "number", "Interquartile range, q3 - q1."),
    ("results.csv", "p30", "number", "30th percentile (RAND/UCLA)."),
    ("results.csv", "p70", "number", "70th percentile (RAND/UCLA)."),
    ("results.csv", "ipr", "number", "Interpercentile range p70 - p30; empty off the 1-9 scale."),
    ("results.csv", "iprcp", "number", "Central point of the IPR, (p30 + p70) / 2."),
    ("results.csv", "ai", "number", "Asymmetry index |5 - iprcp|."),
    ("results.csv", "ipras", "number", "IPR adjusted for symmetry, 2.35 + 1.5 * ai."),
    ("results.csv", "di", "number", "Disagreement index ipr / ipras."),
    ("results.csv", "disagreement", "true/false", "ipr > ipras (RAND/UCLA)."),
    ("results.csv", "pct_low", "number", "Percent of the n ratings in the low band."),
    ("results.csv", "pct_mid", "number", "Percent of the n ratings in the middle band."),
    ("results.csv", "pct_high", "number", "Percent of the n ratings in the high band."),
    ("results.csv", "rule", "text", "Consensus rule of the criterion: percent:T, comet, rand, "
     "iqr:k."),
    ("results.csv", "consensus", "in/out/none", "Consensus under the rule."),
    ("results.csv", "rand_class", "text", "appropriate / uncertain / inappropriate; empty off "
     "the 1-9 scale."),
    ("results.csv", "quantile_method", "integer", "Hyndman-Fan quantile type (5, 6, 7 or 8)."),
    ("results.csv", "margin", "integer", "Smallest number of panelists whose rating would "
     "have to change for the consensus label to change."),
    ("results.csv", "decision", "text", "The item's decision after the round, the same on "
     "each criterion's row: accepted, rejected, carried (rated again in the next round) or "
     "no_consensus (undecided after the last round), as recorded (a coordinator's change "
     "included)."),
    ("results.csv", "basis", "text", "Which clauses of the protocol's item decision rule "
     "decided it, separated by '; ', each as 'clause held|failed (value read)', e.g. "
     "'priority.median >= 7 failed (6)': for accepted, the clauses that made the accept "
     "rule hold; for rejected, those that made the reject rule hold; otherwise those that "
     "kept the accept rule from holding. Default rules read as 'criterion = in' (accept) and "
     "'criterion = out' (reject). Prefixed 'changed by the coordinator from <computed> "
     "(...)' when a coordinator changed the decision."),
    ("comments.csv", "round", "integer", "Round number."),
    ("comments.csv", "panelist", "text", "Pseudonym of the panelist who commented."),
    ("comments.csv", "item", "text", "Item code."),
    ("comments.csv", "criterion", "text", "Criterion code the comment was given with."),
    ("comments.csv", "comment", "text", "The comment, with e-mail addresses replaced by "
     "'[e-mail removed]' and panelists' names by '[name removed]'. In every file, a text "
     "that would start like a formula (an equals, plus, minus or at sign, a tab or a carriage "
     "return) begins with an apostrophe (') so that spreadsheets never run it."),
    ("proposals.csv", "number", "text", "Number of the proposal made in round 0 (R0-01...)."),
    ("proposals.csv", "panelist", "text", "Pseudonym of the panelist who proposed it; never a "
     "name. Other panelists never saw who proposed what."),
    ("proposals.csv", "domain", "text", "Domain it was proposed in (its name in the report "
     "language); empty: the study's items had no domain."),
    ("proposals.csv", "text", "text", "The proposed action as written, scrubbed like comments."),
    ("proposals.csv", "reason", "text", "Why the panelist proposed it, scrubbed like comments."),
    ("proposals.csv", "status", "text", "accepted (became an item of round 1), merged (with a "
     "similar proposal), declined, or pending (no decision)."),
    ("proposals.csv", "item", "text", "Code of the item of round 1 it became, itself or "
     "through the proposal it was merged with; empty otherwise."),
    ("proposals.csv", "decision_reason", "text", "The coordinators' reason, as the proposer "
     "read it."),
    ("stability.csv", "round", "integer", "Round compared with the previous one."),
    ("stability.csv", "prev_round", "integer", "The previous round."),
    ("stability.csv", "item", "text", "Item code."),
    ("stability.csv", "criterion", "text", "Criterion code."),
    ("stability.csv", "n_prev", "integer", "n in the previous round."),
    ("stability.csv", "n", "integer", "n in this round."),
    ("stability.csv", "pct_change", "number", "Percent change of the distribution: half the sum "
     "of absolute changes of the share at each scale point, times 100."),
    ("stability.csv", "stable", "true/false", "pct_change below the protocol's threshold."),
    ("stability.csv", "n_paired", "integer", "Panelists who rated the item in both rounds."),
    ("stability.csv", "wilcoxon_p", "number", "Two-sided Wilcoxon signed-rank p-value over the "
     "paired ratings; empty when no difference is non-zero."),
    ("stability.csv", "wilcoxon_p_holm", "number", "wilcoxon_p adjusted for the many items "
     "tested at once (Holm's step-down method), within one criterion and one pair of rounds."),
    ("stability.csv", "mcnemar_p", "number", "Exact McNemar p-value on 'high band or not'."),
    ("stability.csv", "mcnemar_p_holm", "number", "mcnemar_p adjusted by Holm's method, "
     "within one criterion and one pair of rounds."),
    ("stability.csv", "cv_prev", "number", "Coefficient of variation sd / mean, previous round."),
    ("stability.csv", "cv", "number", "Coefficient of variation, this round."),
    ("stability.csv", "cv_change", "number", "cv - cv_prev."),
    ("rules.csv", "round", "integer", "Round number."),
    ("rules.csv", "item", "text", "Item code."),
    ("rules.csv", "criterion", "text", "Criterion code."),
] + [
    row
    for label in RULE_LABELS
    for row in (
        ("rules.csv", RULE_NAMES[label], "in/out/none",
         f"Consensus under the rule {label}, on the same ratings; empty when the rule does "
         "not apply to the criterion's scale."),
        ("rules.csv", f"{RULE_NAMES[label]}_margin", "integer",
         f"Consensus margin under the rule {label}."),
    )
] + [
    ("protocol", "setting", "text", "A setting of the consensus protocol (data.xlsx sheet "
     "'protocol'); criterion.<code>.* rows describe each criterion."),
    ("protocol", "value", "text", "Its value."),
]  # fmt: skip


def codebook_csv() -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["file", "column", "type", "description"])
    writer.writerows([csvio.safe_cell(str(cell)) for cell in row] for row in _CODEBOOK)
    return buffer.getvalue().encode("utf-8")


# --------------------------------------------------------------------------- workbook


def workbook(tables: Tables, stamp: Stamp, *, title: str) -> bytes:
    """data.xlsx: about (the stamp), protocol, ratings, results, comments, stability,
    rules and codebook sheets."""
    r = tables.ratings
    ratings = xlsx.Sheet(
        "ratings",
        RATINGS_COLUMNS,
        [
            r["round"].tolist(),
            r["panelist"].tolist(),
            (r["group"] if "group" in r.columns else pd.Series([""] * len(r))).tolist(),
            r["item"].tolist(),
            r["criterion"].tolist(),
            [None if v != v else int(v) for v in r["value"].tolist()],
        ],
        widths=[8, 10, 18, 10, 14, 8],
    )
    sheets = [
        xlsx.Sheet.from_rows("about", ["key", "value"], _about_rows(stamp, title), widths=[22, 70]),
        xlsx.Sheet.from_rows(
            "protocol",
            ["setting", "value"],
            [(k, _cell(v)) for k, v in tables.protocol],
            widths=[32, 50],
        ),
        ratings,
        _frame_sheet("results", tables.results, RESULTS_COLUMNS),
        _frame_sheet("comments", tables.comments, COMMENTS_COLUMNS, widths=[8, 10, 10, 14, 80]),
        *(
            [_frame_sheet("proposals", tables.proposals, PROPOSALS_COLUMNS)]
            if tables.proposals is not None and not tables.proposals.empty
            else []
        ),
        _frame_sheet("stability", tables.stability, STABILITY_COLUMNS),
        _frame_sheet("rules", tables.rules, RULES_COLUMNS),
        xlsx.Sheet.from_rows(
            "codebook",
            ["file", "column", "type", "description"],
            _CODEBOOK,
            widths=[14, 20, 12, 90],
        ),
    ]
    created = datetime.fromisoformat(stamp["generated_at"])
    return xlsx.write_xlsx(sheets, title=title, creator=SOFTWARE, created=created)


def _frame_sheet(
    name: str, frame: pd.DataFrame, columns: Sequence[str], widths: Sequence[float] = ()
) -> xlsx.Sheet:
    return xlsx.Sheet(
        name, columns, [[_cell(v) for v in frame[c].tolist()] for c in columns], list(widths)
    )


def _cell(value: Any) -> xlsx.Cell:
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):
        return _cell(value.item())
    return str(value)


def _about_rows(stamp: Stamp, title: str) -> list[tuple[str, xlsx.Cell]]:
    rows: list[tuple[str, xlsx.Cell]] = [("title", title)]
    rows += [(line.split(": ", 1)[0], line.split(": ", 1)[1]) for line in stamp_lines(stamp)]
    return rows


# --------------------------------------------------------------------------- the package


def data_files(
    tables: Tables, stamp: Stamp, *, title: str, ratings: bytes | None = None
) -> dict[str, bytes]:
    """The data files of a report version, by file name (without README and stamp);
    ``ratings`` is ratings.csv when already written."""
    return {
        "ratings.csv": ratings if ratings is not None else csvio.ratings_csv(tables.ratings),
        "results.csv": table_csv(tables.results, RESULTS_COLUMNS),
        "comments.csv": table_csv(tables.comments, COMMENTS_COLUMNS),
        **_proposals_file(tables),
        "stability.csv": table_csv(tables.stability, STABILITY_COLUMNS),
        "rules.csv": table_csv(tables.rules, RULES_COLUMNS),
        "codebook.csv": codebook_csv(),
        WORKBOOK: workbook(tables, stamp, title=title),
    }


def _proposals_file(tables: Tables) -> dict[str, bytes]:
    """proposals.csv: round 0's proposals; the header only when the study had none."""
    frame = tables.proposals
    if frame is None:
        frame = pd.DataFrame(columns=PROPOSALS_COLUMNS)
    return {"proposals.csv": table_csv(frame, PROPOSALS_COLUMNS)}


# --------------------------------------------------------------------------- datapackage

DATAPACKAGE = "datapackage.json"
STUDY_FILE = "study.yaml"
TABLES: dict[str, tuple[list[str], list[str]]] = {
    # file: (columns, primary key)
    "ratings.csv": (RATINGS_COLUMNS, ["round", "panelist", "item", "criterion"]),
    "results.csv": (RESULTS_COLUMNS, ["round", "item", "criterion"]),
    "comments.csv": (COMMENTS_COLUMNS, []),
    "proposals.csv": (PROPOSALS_COLUMNS, ["number"]),
    "stability.csv": (STABILITY_COLUMNS, ["round", "item", "criterion"]),
    "rules.csv": (RULES_COLUMNS, ["round", "item", "criterion"]),
    "codebook.csv": (["file", "column", "type", "description"], ["file", "column"]),
}
_DESCRIPTIONS = {
    "ratings.csv": "One row per rating of a panelist who submitted the round.",
    "results.csv": "Every statistic and verdict of each round, item and criterion.",
    "comments.csv": "Panelists' comments, under pseudonyms, scrubbed of names and e-mails.",
    "proposals.csv": "Round 0: the panel's proposals and the coordinators' decisions.",
    "stability.csv": "Between consecutive rounds: percent change, Wilcoxon, McNemar, CV.",
    "rules.csv": "The verdict and margin of every consensus rule on the same ratings.",
    "codebook.csv": "Every column of every file, with its type and meaning.",
}
_CODEBOOK_FILE_FIELDS = [
    ("file", "text", "The file the column belongs to (protocol: the workbook's sheet)."),
    ("column", "text", "The column's name."),
    ("type", "text", "integer, number, text, true/false or in/out/none."),
    ("description", "text", "What the column holds."),
]


def _field(name: str, kind: str, description: str) -> dict[str, Any]:
    """A Table Schema field from a codebook row."""
    field: dict[str, Any] = {"name": name, "description": description}
    if kind in ("integer", "number"):
        field["type"] = kind
    elif kind == "true/false":
        field.update(type="boolean", trueValues=["true"], falseValues=["false"])
    elif kind == "in/out/none":
        field.update(type="string", constraints={"enum": ["in", "out", "none"]})
    else:
        field["type"] = "string"
    return field


def table_schema(file: str) -> dict[str, Any]:
    """The Table Schema of one of the CSV files, from the codebook."""
    columns, key = TABLES[file]
    rows = _CODEBOOK_FILE_FIELDS
    if file != "codebook.csv":
        rows = [(column, kind, text) for name, column, kind, text in _CODEBOOK if name == file]
    known = {column: (kind, text) for column, kind, text in rows}
    missing = [column for column in columns if column not in known]
    if missing:
        raise ValueError(f"the codebook does not describe {file}: {', '.join(missing)}")
    schema: dict[str, Any] = {
        "fields": [_field(column, *known[column]) for column in columns],
        "missingValues": [""],
    }
    if key:
        schema["primaryKey"] = key
    return schema


def datapackage(files: dict[str, bytes], stamp: Stamp, *, title: str) -> bytes:
    """datapackage.json: a Frictionless (tabular) data package describing every CSV file,
    its fields and their types, with each file's size and SHA-256."""
    resources = [
        {
            "name": file.removesuffix(".csv"),
            "path": file,
            "profile": "tabular-data-resource",
            "format": "csv",
            "mediatype": "text/csv",
            "encoding": "utf-8",
            "description": _DESCRIPTIONS[file],
            "bytes": len(files[file]),
            "hash": "sha256:" + hashlib.sha256(files[file]).hexdigest(),
            "schema": table_schema(file),
        }
        for file in TABLES
        if file in files
    ]
    if STUDY_FILE in files:
        resources.append(
            {
                "name": "study",
                "path": STUDY_FILE,
                "profile": "data-resource",
                "format": "yaml",
                "mediatype": "application/yaml",
                "encoding": "utf-8",
                "description": "The study's design (study file) when the data were exported.",
                "bytes": len(files[STUDY_FILE]),
                "hash": "sha256:" + hashlib.sha256(files[STUDY_FILE]).hexdigest(),
            }
        )
    package = {
        "profile": "data-package",  # the study file is not a table
        "name": _package_name(str(stamp.get("study") or "study")),
        "title": title,
        "description": "Data of a Delphi consensus study, published with its report. "
        "Panelists appear only under pseudonyms.",
        "created": stamp["generated_at"],
        "keywords": ["Delphi", "consensus"],
        "resources": resources,
    }
    if stamp.get("report_version"):
        package["version"] = str(stamp["report_version"])
    return (json.dumps(package, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _package_name(slug: str) -> str:
    """A package name as Frictionless wants it: lowercase letters, digits, ".", "_", "-"."""
    return "".join(ch if ch.isalnum() or ch in "._-" else "-" for ch in slug.lower())


def readme(stamp: Stamp, files: dict[str, bytes], *, title: str) -> bytes:
    """README.txt: what each file is, the stamp, and the SHA-256 of every file."""
    lines = [
        title,
        "=" * min(len(title), 78),
        "",
        "Data published with the report of a Delphi consensus study.",
        "",
        "Files",
        "-----",
        "report.pdf     the report (tagged PDF/UA-1)",
        "ratings.csv    one row per rating: round,panelist,group,item,criterion,value",
        "results.csv    one row per round, item and criterion: every statistic and verdict",
        "comments.csv   panelists' comments, under pseudonyms, scrubbed of names and e-mails",
        "proposals.csv  round 0's proposals, decisions, items they became (header only: none)",
        "stability.csv  between consecutive rounds: percent change, Wilcoxon, McNemar, CV",
        "rules.csv      the verdict and margin of every consensus rule on the same ratings",
        "codebook.csv   every column of every file",
        "data.xlsx      the same tables as one workbook, plus the protocol and this stamp",
        "study.yaml     the study file: the study's whole design when the data were exported",
        "datapackage.json  a Frictionless data package: every CSV's fields and types",
        "stamp.json     the reproducibility stamp below, machine-readable",
        "",
        "The protocol hash is the SHA-256 of the canonical form of the study file as it",
        "stood when round 1 opened; design_hash is the same for study.yaml (the design now).",
        "Both are equal unless the design changed after round 1 opened (see the report).",
        "",
        "A text cell that would start like a formula (an equals, plus, minus or at sign, a",
        "tab or a carriage return) begins with an apostrophe ('), so that no spreadsheet",
        "runs it.",
        "",
        "Panelists appear only under pseudonyms. Running the platform's command",
        "  python manage.py delphi_analyse ratings.csv --out DIR --quantile "
        f"{stamp.get('quantile_method')}",
        "with the protocol's scale and rule reproduces results.csv.",
        "",
    ]
    if stamp.get("simulated"):
        lines += ["SIMULATED DATA: these ratings were generated, not given by real panelists.", ""]
    lines += ["Reproducibility stamp", "---------------------", *stamp_lines(stamp), ""]
    lines += ["SHA-256 of each file", "--------------------"]
    lines += [f"{hashlib.sha256(data).hexdigest()}  {name}" for name, data in files.items()]
    return ("\n".join(lines) + "\n").encode("utf-8")


def package(
    tables: Tables,
    stamp: Stamp,
    *,
    title: str,
    pdf: bytes | None = None,
    ratings: bytes | None = None,
    study_file: bytes | None = None,
) -> dict[str, bytes]:
    """Every file of a report version: the PDF, the data files, the study file (the design),
    datapackage.json, README.txt, stamp.json."""
    files = {"report.pdf": pdf} if pdf is not None else {}
    files.update(data_files(tables, stamp, title=title, ratings=ratings))
    if study_file is not None:
        files[STUDY_FILE] = study_file
    files[DATAPACKAGE] = datapackage(files, stamp, title=title)
    files["stamp.json"] = (json.dumps(stamp, indent=2, sort_keys=True) + "\n").encode("utf-8")
    files["README.txt"] = readme(stamp, files, title=title)
    return files


def zip_bytes(files: dict[str, bytes], *, folder: str, created: datetime) -> bytes:
    """The files in a zip, under ``folder/``; the same files and time give the same bytes."""
    buffer = io.BytesIO()
    date_time = created.timetuple()[:6]
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(f"{folder}/{name}", date_time=date_time)
            # PDF and XLSX are compressed already; deflating them again only costs time.
            packed = name.endswith((".pdf", ".xlsx"))
            info.compress_type = zipfile.ZIP_STORED if packed else zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            # Large CSVs compress nearly as well, and several times faster, at level 1.
            archive.writestr(info, data, compresslevel=1 if len(data) > 1_000_000 else 6)
    return buffer.getvalue()


def read_member(archive: bytes, name: str) -> bytes | None:
    """One file of a version's zip by its name (without the folder), or None."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zf:
        for info in zf.infolist():
            if info.filename.rsplit("/", 1)[-1] == name:
                return zf.read(info)
    return None
