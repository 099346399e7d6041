"""Django settings, driven by environment variables (see README, "Settings").

Without DATABASE_URL/REDIS_URL Candela runs embedded: SQLite under CANDELA_HOME,
in-process counters, in-memory channel layer and Celery tasks run in process.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import dj_database_url

from candela.env import (
    SettingsError,
    env_bool,
    env_decimal,
    env_float,
    env_int,
    env_list,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
CANDELA_HOME = Path(env_str("CANDELA_HOME", str(Path.cwd() / ".candela"))).resolve()
PRODUCTION = env_bool("CANDELA_PRODUCTION", False)


def _secret_key() -> str:
    configured = env_str("CANDELA_SECRET_KEY")
    if configured:
        if len(configured) < 32:
            raise SettingsError("CANDELA_SECRET_KEY must be at least 32 characters long")
        return configured
    if PRODUCTION:
        raise SettingsError("CANDELA_SECRET_KEY is required in production (candela-server)")
    # Embedded mode: one random key per installation, kept beside the database.
    key_file = CANDELA_HOME / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    CANDELA_HOME.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _database() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        if PRODUCTION:
            raise SettingsError("DATABASE_URL is required in production (postgres://…)")
        CANDELA_HOME.mkdir(parents=True, exist_ok=True)
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(CANDELA_HOME / "candela.sqlite3"),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("CANDELA_DB_CONN_MAX_AGE", 60))
    except ValueError as exc:
        raise SettingsError(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    if not config.get("ENGINE"):
        raise SettingsError("DATABASE_URL has an unknown scheme (use postgres:// or sqlite:///)")
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config.setdefault("OPTIONS", {}).update({"timeout": 20, "transaction_mode": "IMMEDIATE"})
    else:
        # libpq waits forever for a server that accepts and never answers; the gateway's
        # recorder must give up and spool instead (a URL's own ?connect_timeout= wins).
        timeout = env_int("CANDELA_DB_CONNECT_TIMEOUT", 10)
        config.setdefault("OPTIONS", {}).setdefault("connect_timeout", timeout)
    return config


SECRET_KEY = _secret_key()
DEBUG = env_bool("CANDELA_DEBUG", False)
ALLOWED_HOSTS = env_list("CANDELA_ALLOWED_HOSTS", "*")
CSRF_TRUSTED_ORIGINS = env_list("CANDELA_CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "ninja",
    "simple_history",
    "django_htmx",
    "channels",
    "tenants",
    "governance",
    "audit",
    "gateway",
    "ebpf",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "candela.request_context.RequestContextMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "candela.urls"
ASGI_APPLICATION = "candela.asgi.application"
WSGI_APPLICATION = None

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
            ],
        },
    },
]

DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tenants.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/me/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = CANDELA_HOME / "static"
# The dashboard's stylesheet and feed script (candela/ is the project, not an installed app).
STATICFILES_DIRS = [BASE_DIR / "candela" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("CANDELA_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# --- Counters, cache bus, channels, Celery ---------------------------------
REDIS_URL = env_str("REDIS_URL")
if PRODUCTION and not REDIS_URL:
    raise SettingsError("REDIS_URL is required in production (redis://…)")

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "candela:channels"},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL or "memory://")
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TIMEZONE = "UTC"

# --- Gateway ----------------------------------------------------------------
CANDELA_MAX_BODY_BYTES = env_int("CANDELA_MAX_BODY_BYTES", 4 * 1024 * 1024)
CANDELA_UPSTREAM_CONNECT_TIMEOUT = env_float("CANDELA_UPSTREAM_CONNECT_TIMEOUT", 5.0)
CANDELA_UPSTREAM_READ_TIMEOUT = env_float("CANDELA_UPSTREAM_READ_TIMEOUT", 120.0)
CANDELA_UPSTREAM_RETRIES = env_int("CANDELA_UPSTREAM_RETRIES", 1)
CANDELA_BREAKER_FAILURES = env_int("CANDELA_BREAKER_FAILURES", 3)
CANDELA_BREAKER_OPEN_SECONDS = env_float("CANDELA_BREAKER_OPEN_SECONDS", 30.0)
CANDELA_DEFAULT_MAX_TOKENS = env_int("CANDELA_DEFAULT_MAX_TOKENS", 4096)
CANDELA_DEFAULT_DAILY_BUDGET_USD = env_decimal("CANDELA_DEFAULT_DAILY_BUDGET_USD", None)
CANDELA_POLICY_REFRESH_SECONDS = env_float("CANDELA_POLICY_REFRESH_SECONDS", 0.5)
CANDELA_AUDIT_FLUSH_SECONDS = env_float("CANDELA_AUDIT_FLUSH_SECONDS", 0.2)
CANDELA_SPOOL_DIR = Path(env_str("CANDELA_SPOOL_DIR", str(CANDELA_HOME / "spool")))
CANDELA_PLATFORM_WEBHOOKS = env_list("CANDELA_PLATFORM_WEBHOOKS", "")
CANDELA_OTEL_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT")
# Audit export sinks (audit/tasks.py); empty: that export is off.
CANDELA_DUCKDB_PATH = env_str("CANDELA_DUCKDB_PATH")
CANDELA_BIGQUERY_TABLE = env_str("CANDELA_BIGQUERY_TABLE")  # project.dataset.table
CANDELA_BIGQUERY_ENDPOINT = env_str("CANDELA_BIGQUERY_ENDPOINT")  # emulator/test server only

# --- Network enforcement (ebpf/) ----------------------------------------------
CANDELA_SNI_PORT = env_int("CANDELA_SNI_PORT", 8443)
CANDELA_SNI_LISTEN = env_list("CANDELA_SNI_LISTEN", "127.0.0.1,::1")
CANDELA_SNI_UNKNOWN = env_str("CANDELA_SNI_UNKNOWN", "refuse")
if CANDELA_SNI_UNKNOWN not in {"refuse", "passthrough"}:
    raise SettingsError("CANDELA_SNI_UNKNOWN must be refuse or passthrough")
CANDELA_CA_DIR = Path(env_str("CANDELA_CA_DIR", str(CANDELA_HOME / "ca")))
CANDELA_EGRESS_USER = env_str("CANDELA_EGRESS_USER", "candela")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("CANDELA_LOG_LEVEL", "INFO")},
    # httpx logs every request URL at INFO; webhook URLs are credentials.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}
FORMS_URLFIELD_ASSUME_HTTPS = True
