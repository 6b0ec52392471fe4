"""The reproducibility stamp carried by every artifact of a report version.

It names the software and its version, the protocol (by the SHA-256 of its settings), the
data (by the checksum of the submitted ratings, as `rounds.services.data_checksum`
computes it for each round's analysis), the quantile method and the time of generation.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd
from django.utils import timezone

import delphi
from rounds.models import Study
from rounds.services import data_checksum, protocol_hash

Stamp = dict[str, Any]
SOFTWARE = "Delphi consensus platform"


def build_stamp(
    study: Study,
    ratings: pd.DataFrame,
    *,
    version: int | None = None,
    now: datetime | None = None,
) -> Stamp:
    """The stamp of a report on ``study`` built from ``ratings`` (the ratings.csv frame)."""
    protocol = study.protocol
    return {
        "study": study.slug,
        "report_version": version,
        "software": SOFTWARE,
        "software_version": delphi.__version__,
        "protocol_hash": protocol_hash(protocol),
        "data_checksum": data_checksum(ratings),
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
        "data_checksum",
        "quantile_method",
        "generated_at",
        "simulated",
    ]
    return [f"{key}: {_text(stamp.get(key))}" for key in order]


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
