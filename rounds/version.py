"""The software version, stamped on every analysis, report and export."""

from __future__ import annotations

__version__ = "0.1.0"
