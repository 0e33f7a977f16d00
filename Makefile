# make run: set up and serve locally on http://127.0.0.1:5000
# make test: the whole suite (SQLite; TEST_DATABASE_URL=postgresql://... for PostgreSQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
# Only `make run` is a local, plain-http development server.
RUN_ENV := TRACKER_ENV=development SESSION_COOKIE_SECURE=0

# Exact versions with hashes: requirements.txt (what the service runs on) and
# requirements-dev.txt (that plus the test tools). Every install uses them.
LOCK := requirements-dev.txt
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links

.PHONY: run test install lint lock bench clean

$(STAMP): $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	touch $(STAMP)

install: $(STAMP)

# Refresh the lock files from pyproject.toml, keeping today's pins where they still fit.
# Upgrade one package: make lock ARGS="--upgrade-package stripe"; all: ARGS=--upgrade.
lock: $(STAMP)
	$(COMPILE) $(ARGS) -o requirements.txt pyproject.toml
	$(COMPILE) $(ARGS) --extra test -c requirements.txt -o requirements-dev.txt pyproject.toml

instance/secret_key:
	mkdir -p instance
	$(BIN)/python -c 'import secrets; print(secrets.token_hex(32))' > $@
	chmod 600 $@

run: $(STAMP) instance/secret_key
	$(RUN_ENV) SECRET_KEY=$$(cat instance/secret_key) $(BIN)/flask --app wsgi db upgrade
	$(RUN_ENV) SECRET_KEY=$$(cat instance/secret_key) $(BIN)/flask --app wsgi tracker seed-demo
	@echo
	@echo "  tracker is running on http://$(HOST):$(PORT)"
	@echo "  progress JSON: http://$(HOST):$(PORT)/api/v1/campaigns/demo/progress"
	@echo "  widget:        http://$(HOST):$(PORT)/embed/demo"
	@echo "  embed demo:    http://$(HOST):$(PORT)/embed/demo/demo"
	@echo "  donate page:   http://$(HOST):$(PORT)/donate/demo"
	@echo "  admin:         http://$(HOST):$(PORT)/admin/  (create a login: TRACKER_ENV=development $(BIN)/flask --app wsgi tracker create-admin you@example.org --password-stdin)"
	@echo
	$(RUN_ENV) SECRET_KEY=$$(cat instance/secret_key) $(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check tracker tests bench config.py wsgi.py
	$(BIN)/mypy

bench: $(STAMP)
	command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq wrk nginx-light)
	$(BIN)/python bench/run.py --write bench/RESULTS.md

clean:
	rm -rf $(VENV) instance .pytest_cache
