"""Settings for the console, read from environment variables with safe defaults."""

from __future__ import annotations

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import schedule

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def _persistent_secret_key() -> str:
    # A key generated once per installation keeps sessions valid across restarts
    # without asking the admin to edit a file for the quick start.
    path = VAR_DIR / "secret-key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("SECRET_KEY") or _persistent_secret_key()
# Earlier keys, still honoured (sessions, signatures, stored secrets) while they rotate out.
SECRET_KEY_FALLBACKS = env_list("SECRET_KEY_FALLBACKS", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")

# "on-premises" enables the Sync Connectors feature; "cloud" hides it (rule S6).
DEPLOYMENT_MODE = os.environ.get("DEPLOYMENT_MODE", "on-premises")
if DEPLOYMENT_MODE not in {"on-premises", "cloud"}:
    raise ValueError("DEPLOYMENT_MODE must be 'on-premises' or 'cloud'")

# Fernet key(s) for bind passwords and connector secrets, newest first and comma-separated:
# the first encrypts, every one decrypts, and so do keys derived from SECRET_KEY and its
# fallbacks (which encrypt when FIELD_ENCRYPTION_KEY is unset).
# After a change, `manage.py rotate_secrets` re-encrypts every stored secret with the newest.
FIELD_ENCRYPTION_KEY = os.environ.get("FIELD_ENCRYPTION_KEY", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "django_filters",
    "axes",
    "console",
    "connectors",
    "directories",
    "synclog",
    "apitokens",
    "ops",
    "vidm",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything that looks at the path: /api/<rest> is answered as /api/v1/<rest>.
    "console.middleware.DeprecatedApiAliasMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "console.middleware.AdminTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a lockout into the console's own answer.
    "axes.middleware.AxesMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "console.urls"
WSGI_APPLICATION = "console.wsgi.application"
AUTH_USER_MODEL = "console.User"
LOGIN_URL = "login"

# Password guessing (django-axes): failures are counted per account and, separately, per
# client address; either reaching the limit locks further attempts for the cool-off time.
# A Super Admin lifts a lock early in /admin/ (Access attempts) or with
# `manage.py axes_reset_username USERNAME` / `axes_reset_ip ADDRESS`.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
# How long a token from the API's username/password login (ours or the vIDM-compatible one) lives.
API_LOGIN_TOKEN_TTL = timedelta(hours=int(os.environ.get("API_LOGIN_TOKEN_HOURS", "8")))
# Lifetime of an access token the vIDM-compatible /SAAS/auth/oauthtoken gives an OAuth client.
VIDM_OAUTH_TOKEN_TTL = timedelta(hours=int(os.environ.get("OAUTH_TOKEN_HOURS", "6")))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "console.clients.client_address"
AXES_VERBOSE = False
# Proxies (addresses or networks) whose X-Forwarded-For is believed; none by default.
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", "")
LOGIN_REDIRECT_URL = "directories:directory_list"
LOGOUT_REDIRECT_URL = "login"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "console.context_processors.console",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'console.sqlite3'}"),
        # A process keeps its connection for the next request or task (checked before
        # reuse): a sync task would otherwise open one and warm a new server process.
        conn_max_age=int(os.environ.get("DATABASE_CONN_MAX_AGE", "600")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and immediate transactions let the web process, workers and beat share the file.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
    # A file, not memory, so that workers started by the tests see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-console-{os.getpid()}.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Served over HTTPS (secure cookies on): browsers are told to keep to HTTPS for a year.
SECURE_HSTS_SECONDS = 31_536_000 if SESSION_COOKIE_SECURE else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = False

# The console runs no inline script: htmx and the page's own files come from /static/.
# Django's admin (inline scripts) is left out.
CONTENT_SECURITY_POLICY = {
    "EXCLUDE_URL_PREFIXES": ["/admin/"],
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Outgoing e-mail (sync failure and recovery notices). The demo sets EMAIL_BACKEND to
# django.core.mail.backends.console.EmailBackend, so its mails appear in the worker's log.
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
# A mail server that does not answer must not hold a sync worker for long.
EMAIL_TIMEOUT = env_float("EMAIL_TIMEOUT", 10.0)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "dirsync@localhost")
SERVER_EMAIL = os.environ.get("SERVER_EMAIL", DEFAULT_FROM_EMAIL)
EMAIL_SUBJECT_PREFIX = os.environ.get("EMAIL_SUBJECT_PREFIX", "[Directory sync] ")
# Where the console is reached, for links in e-mails (no request to take it from).
CONSOLE_URL = os.environ.get("CONSOLE_URL", "http://localhost:8000")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first: an anonymous API call then gets 401 with WWW-Authenticate, not 403.
        "apitokens.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["console.permissions.RolePermission"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "console.api.Pagination",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "console.api.ContentNegotiation",
    "DEFAULT_PARSER_CLASSES": [
        "console.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    # Every error answers {"code", "detail", "errors"} (docs/api.md lists the codes).
    "EXCEPTION_HANDLER": "console.api_errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Directory sync console API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI from drf-spectacular-sidecar's files under /static/: the machines running the
    # console may have no internet, and the CSP allows scripts from this origin only. Redoc is
    # not offered: it starts its worker from a blob: URL, which the CSP refuses.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "TokenKindEnum": "apitokens.choices.TokenKind",
        "ChangeKindEnum": "synclog.choices.ChangeKind",
        "WarningKindEnum": "synclog.choices.WarningKind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "console.api_errors.add_error_responses",
    ],
}

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
# Shared by every web process, so API rate limits hold for the whole service.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "dirsync",
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # A message whose worker died is delivered again after this many seconds.
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "300")),
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# The DatabaseScheduler writes each entry's last run time after every task it sends, not
# every three minutes: /readyz reads the heartbeat's last run from that row.
CELERY_BEAT_SYNC_EVERY = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "probe-connectors": {
        "task": "connectors.tasks.probe_connectors",
        "schedule": schedule(env_float("CONNECTOR_HEALTH_INTERVAL", 30.0)),
    },
    "reap-stale-sync-runs": {
        "task": "directories.tasks.reap_stale_runs",
        "schedule": schedule(30.0),
    },
}

# Operations endpoints (docs/operations.md). /readyz: how long the broker may take to
# answer, and the beat heartbeat: a tiny task the beat sends every interval; the beat
# counts as down when its last send is older than the max age.
READYZ_TIMEOUT = env_float("READYZ_TIMEOUT", 2.0)
BEAT_HEARTBEAT_ENTRY = "beat-heartbeat"
BEAT_HEARTBEAT_INTERVAL = env_float("BEAT_HEARTBEAT_INTERVAL", 15.0)
BEAT_HEARTBEAT_MAX_AGE = env_float("BEAT_HEARTBEAT_MAX_AGE", 60.0)
CELERY_BEAT_SCHEDULE[BEAT_HEARTBEAT_ENTRY] = {
    "task": "ops.tasks.beat_heartbeat",
    "schedule": schedule(BEAT_HEARTBEAT_INTERVAL),
    # Without a worker the messages would pile up in the broker: each one expires unread.
    "options": {"expires": BEAT_HEARTBEAT_INTERVAL},
}
# /metrics: a bearer token, and/or the client networks allowed (CIDR, comma-separated).
# With neither set, only loopback clients are answered.
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
METRICS_ALLOWED_NETWORKS = env_list("METRICS_ALLOWED_NETWORKS", "")
for _network in METRICS_ALLOWED_NETWORKS:
    try:
        ipaddress.ip_network(_network, strict=False)
    except ValueError as error:
        raise ValueError(f"METRICS_ALLOWED_NETWORKS: {error}") from None

# Sync engine tunables (seconds unless stated).
CONNECTOR_PROBE_TIMEOUT = env_float("CONNECTOR_PROBE_TIMEOUT", 3.0)
CONNECTOR_STREAM_TIMEOUT = env_float("CONNECTOR_STREAM_TIMEOUT", 30.0)
CONNECTOR_BUSY_WAIT = env_float("CONNECTOR_BUSY_WAIT", 60.0)
SYNC_LEASE_SECONDS = env_float("SYNC_LEASE_SECONDS", 60.0)
SYNC_PAGE_SIZE = int(os.environ.get("SYNC_PAGE_SIZE", "1000"))
# Hours between full reads of a directory; syncs in between read only what changed (0:
# every sync reads in full).
SYNC_FULL_READ_HOURS = env_float("SYNC_FULL_READ_HOURS", 24.0)
ACTIVATION_CODE_TTL_HOURS = env_float("ACTIVATION_CODE_TTL_HOURS", 24.0)
MINIMUM_CONNECTOR_VERSION = "19.03.0.0"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
