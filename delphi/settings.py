"""Settings, read from the environment in one place.

Defaults serve one machine: SQLite, Celery over kombu's filesystem transport with a
real worker process, e-mail written to a folder. Set DATABASE_URL, CELERY_BROKER_URL and
the EMAIL_* variables to scale out (see README, "Configuration").
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from delphi.env import env_bool, env_int, env_list, env_str
from delphi.logs import install_token_redaction

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("DELPHI_VAR_DIR", str(BASE_DIR / "var")))

# Off unless asked for: `./dev run` sets DJANGO_DEBUG=1; a forgotten variable in production
# must not show Django's debug pages (which list every URL and setting).
DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off (production). Set it to a "
            "long random string, e.g. the output of: python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'. For development, run with DJANGO_DEBUG=1."
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_str("DELPHI_SITE_URL", "http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "formtools",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "rounds",
    "panelists",
    "reports",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "delphi.two_step.TwoStepMiddleware",  # a code after the password, where the user chose it
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a lockout into the lockout page
]

# Content-Security-Policy (django-csp 4): no inline script or style on any page; the site's
# script and stylesheet are static files. The admin keeps Django's own pages as they are.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "frame-ancestors": ["'none'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    },
}

ROOT_URLCONF = "delphi.urls"
WSGI_APPLICATION = "delphi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

_default_db = f"sqlite:///{VAR_DIR / 'delphi.sqlite3'}"
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", _default_db), conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0)
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file-backed test database, so a separate Celery worker process sees the same data.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": f"django.contrib.auth.password_validation.{name}"}
    for name in (
        "UserAttributeSimilarityValidator",
        "MinimumLengthValidator",
        "CommonPasswordValidator",
        "NumericPasswordValidator",
    )
]
# The rate limit on staff logins (django-axes) needs its backend first.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French")), ("nl", _("Dutch"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
TIME_ZONE = "UTC"
USE_TZ = True

# Generated reports: written by a worker, served by the web process (access-checked), so with
# several hosts this must be a folder they share.
REPORTS_ROOT = Path(env_str("DELPHI_REPORTS_ROOT", str(VAR_DIR / "reports")))

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
# WhiteNoise serves what collectstatic gathered, compressed, from each web process (no
# separate file server needed). No manifest: pages render before collectstatic too (tests).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

# E-mail: written to a folder by default (one .eml file per message); SMTP when EMAIL_HOST
# is set.
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "delphi@localhost")
EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = env_str("EMAIL_BACKEND", "panelists.mailbox.FolderBackend")
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")

# Celery: the filesystem transport needs no server; Redis/RabbitMQ via CELERY_BROKER_URL.
CELERY_FS_DIR = VAR_DIR / "celery"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FS_DIR / "queue"),
        "data_folder_out": str(CELERY_FS_DIR / "queue"),
        "processed_folder": str(CELERY_FS_DIR / "processed"),
        "control_folder": str(CELERY_FS_DIR / "control"),
        "store_processed": False,
    }
    for _folder in ("queue", "processed", "results", "control"):
        (CELERY_FS_DIR / _folder).mkdir(parents=True, exist_ok=True)
# No result backend: every job's state lives in the database (rounds.jobs), and a result
# backend that is down would make publishing hang.
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 600)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 540)
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Publishing must fail fast when the broker is down (the job stays queued in the database
# and the tick publishes it later), never hang the web request that caused it.
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0.2, "interval_step": 0}
CELERY_BROKER_CONNECTION_TIMEOUT = 3
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A message taken by a worker that died is redelivered after this long; the database
    # lease takes the job over much sooner, so this only has to outlast the longest task.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_TASK_TIME_LIMIT + 300,
        "socket_connect_timeout": 3,
        "socket_timeout": 10,
    }

# Durable jobs (rounds.jobs): how long a worker's claim lasts before another may take the
# job over, in seconds per kind ("analysis", "report", "email", or "default"); how long an
# unclaimed queued job waits before the tick publishes it again; the first retry delay.
# Report layout: worker processes for a long report (0: one per CPU; 1: one process).
DELPHI_REPORT_WORKERS = env_int("DELPHI_REPORT_WORKERS", 0)

DELPHI_JOB_LEASES = {
    k: int(v) for k, v in (p.split("=") for p in env_list("DELPHI_JOB_LEASES", []) if "=" in p)
}
DELPHI_JOB_REPUBLISH_SECONDS = env_int("DELPHI_JOB_REPUBLISH_SECONDS", 120)
DELPHI_RETRY_BASE_SECONDS = env_int("DELPHI_RETRY_BASE_SECONDS", 30)
DELPHI_JOB_PAUSE_SECONDS = float(env_str("DELPHI_JOB_PAUSE_SECONDS", "0"))  # fault tests only
DELPHI_TICK_SECONDS = env_int("DELPHI_TICK_SECONDS", 60)

VAR_DIR.mkdir(parents=True, exist_ok=True)
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns when it is missing

# No log line ever carries a personal link's token: every record is redacted when it is
# created (Django's "Not Found: /p/<token>/", gunicorn's access log, any other), and the
# console handler filters again in case a library builds its records by hand.
install_token_redaction()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"tokens": {"()": "delphi.logs.TokenFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["tokens"]}},
    "root": {"handlers": ["console"], "level": env_str("DJANGO_LOG_LEVEL", "WARNING")},
}

# The demo banner on the home page (set by the Quick start's run command).
DEMO_MODE = env_bool("DELPHI_DEMO_MODE", False)

# Personal links must never leak through the Referer header: the link's own redirect sends
# "no-referrer"; elsewhere "same-origin" (a stricter policy makes browsers send "Origin: null"
# with forms, which Django's CSRF check rightly refuses).
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"

# HTTPS (production): secure cookies (session, CSRF, language), redirect http to https, HSTS.
# On by default when DEBUG is off; DELPHI_HTTPS=0 only for a plain-HTTP test on loopback.
HTTPS = env_bool("DELPHI_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = LANGUAGE_COOKIE_SECURE = HTTPS
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", HTTPS)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # load balancers probe over plain HTTP
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
# The site usually lives on its own host name (delphi.example.org): covering the names below
# it costs nothing. Preloading is a commitment for the whole domain: the operator's choice.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
# Behind a reverse proxy that terminates TLS and sets X-Forwarded-Proto (and strips any the
# client sent), DJANGO_BEHIND_PROXY=1 makes Django see https requests as secure.
BEHIND_PROXY = env_bool("DJANGO_BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# How many proxies in front of the app append to X-Forwarded-For: the client's address for
# the rate limits is the one the nearest trusted proxy saw (0: REMOTE_ADDR).
DELPHI_TRUSTED_PROXIES = env_int("DELPHI_TRUSTED_PROXIES", 1 if BEHIND_PROXY else 0)

# Caches: one per process by default; set DJANGO_CACHE_URL=redis://host:6379/1 when several
# web processes must share the rate limits on personal links.
_cache_url = env_str("DJANGO_CACHE_URL", "")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url.startswith(("redis://", "rediss://"))
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}
# Sessions: in the database; with a shared cache, read through it (a panelist's save then
# spends no query on its session). Never through a per-process cache: a logout in one web
# process would not reach the others.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if _cache_url
    else "django.contrib.sessions.backends.db"
)

# Rate limits. Staff logins (django-axes, counted in the database, so shared by every web
# process): after DELPHI_LOGIN_FAILURES failed attempts from one address, or on one account,
# logins from there (or to it) are refused for DELPHI_LOGIN_COOLOFF_MINUTES.
AXES_FAILURE_LIMIT = env_int("DELPHI_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("DELPHI_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "delphi.lockout.locked_out"
AXES_CLIENT_IP_CALLABLE = "rounds.throttle.client_ip"
AXES_VERBOSE = False
# Personal links: invalid tokens tried from one address (rounds.throttle).
DELPHI_LINK_FAILURES = env_int("DELPHI_LINK_FAILURES", 20)
DELPHI_LINK_COOLOFF_SECONDS = env_int("DELPHI_LINK_COOLOFF_SECONDS", 600)

# Privacy: this many days after a study ends, its panelists' e-mail addresses and names are
# erased (ratings stay, under their pseudonyms); 0 keeps them until erased by hand.
DELPHI_RETENTION_DAYS = env_int("DELPHI_RETENTION_DAYS", 365)

# Celery beat, one per installation: scheduled openings and closings, reminders, and the
# jobs left waiting (lost messages, dead workers), every minute.
CELERY_BEAT_SCHEDULE = {
    name: {"task": f"{name}.tasks.tick", "schedule": float(DELPHI_TICK_SECONDS)}
    for name in ("rounds", "panelists", "reports")
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Two-step sign-in (delphi/two_step.py): the issuer shown in authenticator apps.
OTP_TOTP_ISSUER = env_str("DELPHI_TOTP_ISSUER", "Delphi consensus platform")
