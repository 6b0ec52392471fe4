"""The reproducibility stamp carried by every artifact of a report version.

It names the software and its version, the protocol, the data, the quantile method and the
time of generation. The protocol hash is the design hash of the study file (`rounds.design`:
SHA-256 of its canonical form) as it stood when round 1 opened, so a study file deposited
before round 1 can be checked against it; `design_hash` is the same hash of the design as it
stands now, which differs when the design changed after round 1 opened (audited changes).

The data checksum is the SHA-256 of the published ratings.csv, byte for byte, so that
anyone can check a copy with `sha256sum ratings.csv` (the per-round checksum of
`rounds.services.data_checksum` hashes a pandas rendering that only the platform makes).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

from django.utils import timezone

from rounds.design import design_hash
from rounds.models import Study
from rounds.version import __version__

Stamp = dict[str, Any]
SOFTWARE = "Delphi consensus platform"


def build_stamp(
    study: Study,
    ratings_csv: bytes,
    *,
    version: int | None = None,
    now: datetime | None = None,
) -> Stamp:
    """The stamp of a report on ``study`` whose ratings.csv is ``ratings_csv``."""
    protocol = study.protocol
    current = design_hash(study)
    return {
        "study": study.slug,
        "report_version": version,
        "software": SOFTWARE,
        "software_version": __version__,
        "protocol_hash": protocol.locked_design_hash or current,
        "design_hash": current,
        "data_checksum": hashlib.sha256(ratings_csv).hexdigest(),
        "quantile_method": protocol.quantile_type,
        "generated_at": (now or timezone.now()).astimezone(UTC).isoformat(),
        "simulated": study.is_simulated,
    }


def stamp_lines(stamp: Stamp) -> list[str]:
    """The stamp as `key: value` lines, for text files (README.txt)."""
    order = [
        "study",
        "report_version",
        "software",
        "software_version",
        "protocol_hash",
        "design_hash",
        "data_checksum",
        "quantile_method",
        "generated_at",
        "simulated",
    ]
    return [f"{key}: {_text(stamp.get(key))}" for key in order]


def design_changed(stamp: Stamp) -> bool:
    """Whether the design changed after round 1 opened (the two hashes differ)."""
    current = stamp.get("design_hash")
    return bool(current) and current != stamp.get("protocol_hash")


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
