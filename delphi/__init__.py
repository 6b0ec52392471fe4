from delphi.celery import app as celery_app
from rounds.version import __version__

__all__ = ["__version__", "celery_app"]
