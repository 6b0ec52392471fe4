"""Domain errors: services raise them, views and commands turn them into clear messages."""

from __future__ import annotations


class DomainError(Exception):
    """A request the domain refuses, with a message fit to show the user."""


class TransitionError(DomainError):
    """An illegal change of state (e.g. opening a round that is already closed)."""


class ProtocolLockedError(DomainError):
    """The consensus protocol was locked when round 1 opened."""


class AnalysisImpossibleError(DomainError):
    """A closed round that cannot be analysed as it stands (e.g. nobody submitted it)."""
