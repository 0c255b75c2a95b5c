"""Luxx settings: every value comes from the environment (12-factor).

The helpers below fail loudly on a malformed value instead of silently falling back,
so a typo in a deployment's environment stops start-up with a clear message.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from luxx import bootstrap

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ImproperlyConfigured(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a number, got {raw!r}") from None


def env_choice(name: str, default: str, choices: set[str]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in env_str(name, default).split(",") if item.strip()]


# --- core -------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
LUXX_DATA_DIR = bootstrap.data_dir()
bootstrap.ensure_data_dirs(LUXX_DATA_DIR)
# From the environment, else the data directory's own random key (made by `manage.py
# migrate`, the first step of every set-up). Never derived from anything guessable.
SECRET_KEY = env_str("SECRET_KEY", "") or bootstrap.read_secret_key(LUXX_DATA_DIR)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(f"No secret key: set SECRET_KEY, or run `manage.py migrate` once to generate one in {LUXX_DATA_DIR}.")
    SECRET_KEY = bootstrap.create_secret_key(LUXX_DATA_DIR)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "")
# A page in the app's look (or the API's envelope under /api/) instead of Django's own.
CSRF_FAILURE_VIEW = "luxx.views.csrf_failure"

LUXX_VERSION = "1.0.0"
LUXX_WORKSPACE_ROOT = Path(env_str("LUXX_WORKSPACE_ROOT", str(LUXX_DATA_DIR / "workspaces"))).resolve()
LUXX_UPLOAD_DIR = LUXX_DATA_DIR / "uploads"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_eventstream",
    # Before django_tasks_db: its db_worker command is Luxx's pool of workers.
    "worker",
    "django_tasks",
    "django_tasks_db",
    "accounts",
    "agents",
    "chat",
    "rooms",
    "knowledge",
    "toolbox",
    "mcplink",
    "files",
    "usage",
]

MIDDLEWARE = [
    "luxx.observability.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "luxx.csp.ContentSecurityPolicyMiddleware",
    "luxx.middleware.StaticFilesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "luxx.middleware.ApiExceptionMiddleware",
]

ROOT_URLCONF = "luxx.urls"
ASGI_APPLICATION = "luxx.asgi.application"
WSGI_APPLICATION = "luxx.wsgi.application"

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

# --- database and channel layer ---------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=0)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "luxx.postgresql"
        # Connections come from a pool per process, so a process holds at most
        # LUXX_DB_POOL_SIZE of them whatever the number of requests and streams.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env_int("LUXX_DB_POOL_SIZE", 16, minimum=2, maximum=1000),
            "timeout": env_float("LUXX_DB_POOL_TIMEOUT", 30.0),
        }
        # Statements run twice on a connection are prepared on the server, which then
        # skips parsing and planning them: every turn runs the same few (luxx.postgresql).
        # Django leaves this off for transaction-pooling proxies (PgBouncer before 1.21);
        # set it false there.
        if env_bool("LUXX_DB_PREPARED_STATEMENTS", True):
            DATABASES["default"]["OPTIONS"].update(server_side_binding=True, prepare_threshold=2)
else:
    bootstrap.ensure_private_file(LUXX_DATA_DIR / "luxx.sqlite3")  # owner only, like the data directory
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(LUXX_DATA_DIR / "luxx.sqlite3"),
            "OPTIONS": {
                # WAL lets readers go on while a stream writes; a busy timeout instead of
                # instant "database is locked" under concurrent streams.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("LUXX_CHANNEL_PREFIX", "luxx")},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Threads that run the async views' database work (luxx.db.run_db). Each competes with the
# event loop for the GIL: more of them start turns sooner but stall the replies already
# streaming (bench/stream.py, PostgreSQL, 200 streams: 4 threads gave gap p99 47-65 ms,
# 3 gave 41-45 ms with time to the first token no worse than before the usage row was
# taken last; on SQLite 3 and 4 measure the same).
LUXX_DB_THREADS = env_int("LUXX_DB_THREADS", 3, minimum=1, maximum=64)

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- auth ---------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "accounts.validators.ExactCommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.validators.LettersAndDigitsValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

AUTHENTICATION_BACKENDS = ["accounts.backends.LimitedModelBackend"]
# How many reverse proxies of ours stand in front of the server, each appending the
# address it saw to X-Forwarded-For. 0: the header is ignored and the client is the
# socket's address (a client can write any X-Forwarded-For it likes).
LUXX_TRUSTED_PROXIES = env_int("LUXX_TRUSTED_PROXIES", 0, minimum=0, maximum=10)
# Failed sign-ins one account may have per window, whatever the address; more are refused
# (the right password too) until the window ends.
LUXX_LOGIN_FAILURE_LIMIT = env_int("LUXX_LOGIN_FAILURE_LIMIT", 10, minimum=1)
LUXX_LOGIN_FAILURE_WINDOW_MINUTES = env_int("LUXX_LOGIN_FAILURE_WINDOW_MINUTES", 15, minimum=1)

LUXX_DEFAULT_PERMISSION_LEVEL = env_int("LUXX_DEFAULT_PERMISSION_LEVEL", 1, minimum=1, maximum=4)
LUXX_FIRST_USER_ADMIN = env_bool("LUXX_FIRST_USER_ADMIN", True)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.LuxxJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["luxx.api.LuxxRenderer"],
    # A JSON API: typed fields refuse form-encoded strings anyway; the upload views take
    # multipart themselves.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "luxx.api.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "luxx.api.LuxxPagination",
    "DEFAULT_SCHEMA_CLASS": "luxx.schema.EnvelopeAutoSchema",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env_str("LUXX_AUTH_THROTTLE_RATE", "20/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "NUM_PROXIES": LUXX_TRUSTED_PROXIES,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("LUXX_ACCESS_TOKEN_MINUTES", 30, minimum=1)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("LUXX_REFRESH_TOKEN_DAYS", 7, minimum=1)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Luxx API",
    "DESCRIPTION": (
        "Luxx, a self-hosted AI agent platform. Two dialects over the same services: the Luxx "
        "API under /api/ (envelope {success, message, data}) and the agent-platform API under "
        "/api/v1/ (envelope {code, message, data})."
    ),
    "VERSION": LUXX_VERSION,
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "toolbox.schema.document_each_tool"],
    "ENUM_NAME_OVERRIDES": {
        "MessageStatusEnum": "chat.models.MessageStatus",
        "RoomStatusEnum": "rooms.models.RoomStatus",
        "DocumentStatusEnum": "knowledge.models.DocumentStatus",
        "McpServerStatusEnum": "mcplink.models.McpHealth",
        "ProviderTypeEnum": "agents.models.ProviderType",
    },
}

# --- i18n, static -----------------------------------------------------------------

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = LUXX_DATA_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Serve straight from the finders when collectstatic has not run (a fresh checkout).
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# --- security -------------------------------------------------------------------------


def _fernet_key_from(secret: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(("luxx-fernet:" + secret).encode()).digest()).decode()


# Comma-separated Fernet keys: the first encrypts, every one decrypts (MultiFernet), so a
# key is rotated by putting the new one first and running `manage.py reencrypt_secrets`.
LUXX_ENCRYPTION_KEYS = env_list("LUXX_ENCRYPTION_KEY", "") or [_fernet_key_from(SECRET_KEY)]
for _key in LUXX_ENCRYPTION_KEYS:
    try:
        if len(base64.urlsafe_b64decode(_key.encode())) != 32:
            raise ValueError
    except ValueError:
        raise ImproperlyConfigured(
            "LUXX_ENCRYPTION_KEY must be comma-separated Fernet keys (32 url-safe base64-encoded bytes each)"
        ) from None
# What installs encrypted with before secret keys were generated: a key derived from the
# install path. Stored keys still decrypt with it until `reencrypt_secrets` has run.
LUXX_LEGACY_ENCRYPTION_KEYS = [_fernet_key_from(bootstrap.legacy_secret_key())]
# Exact private "ip:port" pairs every provider may reach (an intranet model server).
LUXX_PROVIDER_ALLOWED_ADDRESSES = env_list("LUXX_PROVIDER_ALLOWED_ADDRESSES", "")
LUXX_PROVIDER_PRIVATE_URLS = env_choice("LUXX_PROVIDER_PRIVATE_URLS", "admin", {"admin", "all", "none"})
LUXX_FETCH_ALLOW_PRIVATE = env_bool("LUXX_FETCH_ALLOW_PRIVATE", False)
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Production behind HTTPS (see the README's production example, which `manage.py check
# --deploy` passes without a warning). Off by default so `make run` works over plain HTTP.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
# "HTTP_X_FORWARDED_PROTO,https": the header (as Django names it) and value by which the
# proxy in front says the request came over HTTPS. Only behind a proxy that sets it.
_proxy_ssl = env_list("SECURE_PROXY_SSL_HEADER", "")
if _proxy_ssl and (len(_proxy_ssl) != 2 or not _proxy_ssl[0].startswith("HTTP_")):
    raise ImproperlyConfigured("SECURE_PROXY_SSL_HEADER must be a header and a value, e.g. HTTP_X_FORWARDED_PROTO,https")
SECURE_PROXY_SSL_HEADER = (_proxy_ssl[0], _proxy_ssl[1]) if _proxy_ssl else None

# --- uploads and knowledge ------------------------------------------------------------

LUXX_MAX_UPLOAD_MB = env_int("LUXX_MAX_UPLOAD_MB", 20, minimum=1)
# The body limit of every route but uploads and sign-in (see luxx/bodylimit.py).
LUXX_MAX_REQUEST_KB = env_int("LUXX_MAX_REQUEST_KB", 2048, minimum=16)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
# Chunk vectors for hybrid search: "provider" (an OpenAI-compatible embeddings endpoint,
# LUXX_EMBEDDINGS_PROVIDER_ID) or "local" (all-MiniLM-L6-v2 in this process, from
# requirements-embeddings.txt); none when unset, or "provider" with no provider id.
LUXX_EMBEDDINGS = env_choice("LUXX_EMBEDDINGS", "provider", {"provider", "local", "off"})
LUXX_EMBEDDINGS_PROVIDER_ID = env_int("LUXX_EMBEDDINGS_PROVIDER_ID", 0, minimum=0)
LUXX_EMBEDDINGS_MODEL = env_str("LUXX_EMBEDDINGS_MODEL", "text-embedding-3-small")
# The vector ranking's weight against the lexical one's (1) in the fusion; the default is
# measured (bench/knowledge.py --embeddings local): see the README.
LUXX_HYBRID_VECTOR_WEIGHT = env_float("LUXX_HYBRID_VECTOR_WEIGHT", 0.05)
# Chunk vectors kept in memory per search scope, so a query does not read them all again.
LUXX_VECTOR_CACHE_MB = env_int("LUXX_VECTOR_CACHE_MB", 256, minimum=0)
# A document still "processing" after this long lost its indexing task: re-uploading the
# same file replaces it.
LUXX_KNOWLEDGE_STALE_MINUTES = env_int("LUXX_KNOWLEDGE_STALE_MINUTES", 30, minimum=1)

# Chat attachments (files/): images up to this size, kept at most this many pixels on their
# longer side (what vision models use; larger ones are scaled down), and refused when their
# decoded size passes LUXX_IMAGE_MAX_MEGAPIXELS (a decompression bomb). Documents follow
# LUXX_MAX_UPLOAD_MB. A message's documents give the model at most
# LUXX_ATTACHMENT_CONTEXT_TOKENS of text (the best passages for the question when longer).
LUXX_MAX_IMAGE_MB = env_int("LUXX_MAX_IMAGE_MB", 10, minimum=1)
LUXX_IMAGE_MAX_SIDE = env_int("LUXX_IMAGE_MAX_SIDE", 1568, minimum=64)
LUXX_IMAGE_MAX_MEGAPIXELS = env_int("LUXX_IMAGE_MAX_MEGAPIXELS", 50, minimum=1)
LUXX_MAX_ATTACHMENTS = env_int("LUXX_MAX_ATTACHMENTS", 10, minimum=1, maximum=50)
LUXX_ATTACHMENT_CONTEXT_TOKENS = env_int("LUXX_ATTACHMENT_CONTEXT_TOKENS", 8000, minimum=500)
# A file uploaded and never sent with a message is deleted after this many hours.
LUXX_UNSENT_FILE_HOURS = env_int("LUXX_UNSENT_FILE_HOURS", 24, minimum=1)

# --- LLM calls ------------------------------------------------------------------------

LUXX_LLM_CONNECT_TIMEOUT = env_float("LUXX_LLM_CONNECT_TIMEOUT", 10.0)
LUXX_LLM_FIRST_TOKEN_TIMEOUT = env_float("LUXX_LLM_FIRST_TOKEN_TIMEOUT", 60.0)
LUXX_LLM_IDLE_TIMEOUT = env_float("LUXX_LLM_IDLE_TIMEOUT", 60.0)
LUXX_LLM_MAX_RETRIES = env_int("LUXX_LLM_MAX_RETRIES", 2, minimum=0, maximum=10)
LUXX_AGENT_MAX_ITERATIONS = env_int("LUXX_AGENT_MAX_ITERATIONS", 8, minimum=1, maximum=50)
LUXX_SSE_HEARTBEAT_SECONDS = env_float("LUXX_SSE_HEARTBEAT_SECONDS", 15.0)
# A reply goes on when its client goes away (any client can follow it again from
# GET /api/messages/{id}/events); true ends it there, saved as interrupted.
LUXX_STOP_ON_DISCONNECT = env_bool("LUXX_STOP_ON_DISCONNECT", False)
# How often a follower of a reply generated by another process reads the stored reply.
LUXX_REPLY_FOLLOW_POLL_SECONDS = env_float("LUXX_REPLY_FOLLOW_POLL_SECONDS", 0.5)

# --- tools ----------------------------------------------------------------------------

LUXX_WEB_SEARCH_BACKEND = env_str("LUXX_WEB_SEARCH_BACKEND", "ddgs")
LUXX_WORKSPACE_QUOTA_MB = env_int("LUXX_WORKSPACE_QUOTA_MB", 200, minimum=1)
# Threads of the file tools' own pool (half of them at most for one user).
LUXX_FILE_TOOL_THREADS = env_int("LUXX_FILE_TOOL_THREADS", 8, minimum=2, maximum=64)
LUXX_SANDBOX_TIMEOUT_SECONDS = env_float("LUXX_SANDBOX_TIMEOUT_SECONDS", 30.0)
LUXX_SANDBOX_MAX_CONCURRENT = env_int("LUXX_SANDBOX_MAX_CONCURRENT", 8, minimum=1)
LUXX_SANDBOX_MAX_PER_USER = env_int("LUXX_SANDBOX_MAX_PER_USER", 2, minimum=1)
# Per-run rlimits of the sandbox (address space, processes of the sandbox uid, file size).
LUXX_SANDBOX_MEMORY_MB = env_int("LUXX_SANDBOX_MEMORY_MB", 1024, minimum=64)
LUXX_SANDBOX_MAX_PROCESSES = env_int("LUXX_SANDBOX_MAX_PROCESSES", 64, minimum=8)
LUXX_SANDBOX_MAX_FILE_MB = env_int("LUXX_SANDBOX_MAX_FILE_MB", 64, minimum=1)
# Exact private "ip:port" pairs web_fetch may reach anyway (an intranet service).
LUXX_FETCH_ALLOWED_ADDRESSES = env_list("LUXX_FETCH_ALLOWED_ADDRESSES", "")
# --- MCP servers as tool sources ----------------------------------------------------------
# Who may point an MCP server at a loopback or private address (as for providers).
LUXX_MCP_PRIVATE_URLS = env_choice("LUXX_MCP_PRIVATE_URLS", "admin", {"admin", "all", "none"})
# Host paths mounted read-only into the sandbox of stdio MCP servers (a program installed
# outside /usr, e.g. /opt/mcp), at the same place.
LUXX_MCP_STDIO_PATHS = env_list("LUXX_MCP_STDIO_PATHS", "")
# A server that could not be reached has its tools unavailable this long, then is tried again.
LUXX_MCP_RETRY_SECONDS = env_int("LUXX_MCP_RETRY_SECONDS", 60, minimum=0)

# --- usage, limits, metrics ------------------------------------------------------------

# Prices (Django admin: Usage > Model prices) are kept in memory this long per process.
LUXX_PRICE_CACHE_SECONDS = env_float("LUXX_PRICE_CACHE_SECONDS", 60.0)
# The currency of the price table, shown beside costs and cost limits.
LUXX_USAGE_CURRENCY = env_str("LUXX_USAGE_CURRENCY", "USD")
# GET /metrics answers only with this bearer token; unset, /metrics is off (404).
LUXX_METRICS_TOKEN = env_str("LUXX_METRICS_TOKEN", "")

# --- logging --------------------------------------------------------------------------

# json: one JSON object a line (request and model-call lines with their fields); text:
# plain lines for development (the default with DEBUG=true).
LUXX_LOG_FORMAT = env_choice("LUXX_LOG_FORMAT", "text" if DEBUG else "json", {"json", "text"})
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "json": {"()": "luxx.logs.JsonFormatter"},
        "text": {"()": "luxx.logs.TextFormatter"},
    },
    "filters": {"request_id": {"()": "luxx.logs.RequestIdFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LUXX_LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        # The SDKs' HTTP client logs every request at INFO: one line per model call is noise.
        "httpx2": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}

# --- background work -----------------------------------------------------------------

# Django's Tasks framework (the django-tasks backport of django.tasks) with its database
# backend: `manage.py db_worker` runs the workers, on the same database as the web
# processes (no other service). Application code uses the Tasks API only.
TASKS = {"default": {"BACKEND": env_str("LUXX_TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}
# Tasks one worker process runs at once (threads; most tasks wait on a model provider).
LUXX_WORKER_CONCURRENCY = env_int("LUXX_WORKER_CONCURRENCY", 8, minimum=1, maximum=256)
# How often an idle worker thread looks for a task.
LUXX_WORKER_POLL_SECONDS = env_float("LUXX_WORKER_POLL_SECONDS", 0.5)
# A worker beats this often; one silent for LUXX_WORKER_STALE_SECONDS is dead and its
# running tasks are handed to another worker (checked every LUXX_WORKER_RECOVER_SECONDS).
LUXX_WORKER_BEAT_SECONDS = env_float("LUXX_WORKER_BEAT_SECONDS", 2.0)
LUXX_WORKER_STALE_SECONDS = env_float("LUXX_WORKER_STALE_SECONDS", 15.0)
LUXX_WORKER_RECOVER_SECONDS = env_float("LUXX_WORKER_RECOVER_SECONDS", 5.0)
# A failed task is tried again after LUXX_TASK_RETRY_SECONDS, doubling, up to
# LUXX_TASK_MAX_ATTEMPTS attempts in all; then it is recorded as failed with its reason.
LUXX_TASK_MAX_ATTEMPTS = env_int("LUXX_TASK_MAX_ATTEMPTS", 3, minimum=1, maximum=20)
LUXX_TASK_RETRY_SECONDS = env_float("LUXX_TASK_RETRY_SECONDS", 5.0)
# Failed task results stay listed in Django admin this long (successful ones a day).
LUXX_TASK_RESULTS_KEEP_DAYS = env_int("LUXX_TASK_RESULTS_KEEP_DAYS", 7, minimum=1)
# A chat reply still "streaming" that its process has not saved for this long is marked
# "interrupted" by a periodic sweep (a live writer saves at least every 2 seconds).
LUXX_STREAM_STALE_SECONDS = env_float("LUXX_STREAM_STALE_SECONDS", 30.0)
# Periodic tasks: dotted path -> seconds between runs (one worker runs each, once a period).
LUXX_PERIODIC_TASKS: dict[str, float] = {
    "chat.tasks.sweep_interrupted_replies": max(1.0, LUXX_STREAM_STALE_SECONDS / 3),
    "rooms.tasks.prune_event_logs": 600.0,
    "files.tasks.prune_unsent_files": 3600.0,
}

# --- rooms / observers ------------------------------------------------------------------

# A room's run executes on a worker; its events are kept for Last-Event-ID replay, and
# cross to the web processes, in Redis when REDIS_URL is set (with the library's pub/sub),
# else in the database, which each web process polls every ROOM_EVENTS_POLL_SECONDS while
# it has observers; see rooms/eventstream.py. Replay reaches back ROOM_EVENTS_TTL seconds
# after a room's last event and at most ROOM_EVENTS_MAX events.
EVENTSTREAM_STORAGE_CLASS = "rooms.eventstream.DatabaseEventStorage"
ROOM_EVENTS_POLL_SECONDS = env_float("LUXX_ROOM_EVENTS_POLL_SECONDS", 0.1)
EVENTSTREAM_CHANNELMANAGER_CLASS = "rooms.eventstream.RoomChannelManager"
ROOM_EVENTS_TTL = env_int("LUXX_ROOM_EVENTS_TTL", 3600, minimum=60, maximum=7 * 86400)
ROOM_EVENTS_MAX = env_int("LUXX_ROOM_EVENTS_MAX", 20_000, minimum=100, maximum=1_000_000)
if REDIS_URL:
    from urllib.parse import unquote as _unquote
    from urllib.parse import urlsplit as _urlsplit

    _redis = _urlsplit(REDIS_URL)
    EVENTSTREAM_STORAGE_CLASS = "rooms.eventstream.RedisEventStorage"
    EVENTSTREAM_REDIS = {
        "host": _redis.hostname or "127.0.0.1",
        "port": _redis.port or 6379,
        "db": int((_redis.path or "/0").lstrip("/") or 0),
        "username": _unquote(_redis.username) if _redis.username else None,
        "password": _unquote(_redis.password) if _redis.password else None,
        "ssl": _redis.scheme == "rediss",
    }
