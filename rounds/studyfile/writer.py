"""Writing a study's design as its study file (YAML)."""

from __future__ import annotations

from rounds.design import FORMAT_VERSION, Document, design_document, document_hash
from rounds.models import Study
from rounds.studyfile.schema import SCHEMA_FILE
from rounds.studyfile.yamlio import dump

MEDIA_TYPE = "application/yaml; charset=utf-8"


def study_file_name(study: Study) -> str:
    return f"{study.slug}.study.yaml"


def study_file(study: Study) -> bytes:
    """The study's design as it stands now, as a study file."""
    return document_file(design_document(study))


def document_file(document: Document) -> bytes:
    """A design document (normal form) as a study file; the header comments say what it is
    and give its design hash, which the comments themselves do not change."""
    header = [
        "Delphi study file: the design of one Delphi study (protocol, criteria, items,",
        "stakeholder groups, schedule, study record), without panelists or ratings.",
        f"Format version {FORMAT_VERSION}; JSON Schema: {SCHEMA_FILE}.",
        f"Design hash (SHA-256 of the RFC 8785 canonical form): {document_hash(document)}",
    ]
    return dump(document, header).encode("utf-8")
