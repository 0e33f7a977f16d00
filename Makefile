# make run: set up and serve locally on http://127.0.0.1:5000
# make test: the whole suite (SQLite; TEST_DATABASE_URL=postgresql://... for PostgreSQL)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000

# Exact versions with hashes: requirements.txt (what the service runs on) and
# requirements-dev.txt (that plus the test tools). Every install uses them.
LOCK := requirements-dev.txt
COMPILE := $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	--no-emit-index-url --no-emit-find-links

.PHONY: run test install lint lock translations catalogs audit-tools bench clean

# gettext catalogs: translations/<lang>/LC_MESSAGES/messages.po (committed) and .mo (built).
LANGUAGES := de fr es it pt ru ar
CATALOG_MO := $(foreach l,$(LANGUAGES),translations/$(l)/LC_MESSAGES/messages.mo)
KEYWORDS := -k _l -k lazy_gettext -k message -k plural_message:1,2

$(STAMP): $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	touch $(STAMP)

install: $(STAMP)

# Compile each catalog that changed (make run, make test and CI need the .mo files).
translations/%/LC_MESSAGES/messages.mo: translations/%/LC_MESSAGES/messages.po $(STAMP)
	$(BIN)/pybabel compile --use-fuzzy -d translations -l $* -f

catalogs: $(CATALOG_MO)

# Extract every text from the code and templates, update each catalog, compile.
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg $(KEYWORDS) --no-location --sort-output \
	  --project tracker --copyright-holder "tracker's authors" -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching \
	  --ignore-obsolete --no-wrap
	$(MAKE) catalogs

# Refresh the lock files from pyproject.toml, keeping today's pins where they still fit.
# Upgrade one package: make lock ARGS="--upgrade-package stripe"; all: ARGS=--upgrade.
lock: $(STAMP)
	$(COMPILE) $(ARGS) -o requirements.txt pyproject.toml
	$(COMPILE) $(ARGS) --extra test -c requirements.txt -o requirements-dev.txt pyproject.toml

# The development settings make run uses, written once (Flask reads .env through
# python-dotenv; nothing else does): every README command then works as written.
.env:
	umask 077; { \
	  echo "# tracker's local development settings, written by make run. Never commit this file."; \
	  echo "TRACKER_ENV=development"; \
	  echo "SESSION_COOKIE_SECURE=0"; \
	  echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_hex(32))')"; \
	  echo "# A Stripe test key (sk_test_...) and the signing secret of 'stripe listen' (whsec_...):"; \
	  echo "STRIPE_SECRET_KEY="; \
	  echo "STRIPE_WEBHOOK_SECRET="; \
	} > $@

run: $(STAMP) catalogs .env
	$(BIN)/flask --app wsgi db upgrade
	$(BIN)/flask --app wsgi tracker seed-demo
	@echo
	@echo "  tracker is running on http://$(HOST):$(PORT)"
	@echo "  progress JSON: http://$(HOST):$(PORT)/api/v1/campaigns/demo/progress"
	@echo "  widget:        http://$(HOST):$(PORT)/embed/demo"
	@echo "  embed demo:    http://$(HOST):$(PORT)/embed/demo/demo"
	@echo "  donate page:   http://$(HOST):$(PORT)/donate/demo"
	@echo "  admin:         http://$(HOST):$(PORT)/admin/  (create a login first:"
	@echo "                 echo 'a long passphrase' | $(BIN)/flask --app wsgi tracker create-admin you@example.org --password-stdin)"
	@echo
	$(BIN)/flask --app wsgi run --host $(HOST) --port $(PORT)

# The page auditors (tests/test_audits.py) from package-lock.json, installed where npm is.
AUDIT_STAMP := node_modules/.installed
$(AUDIT_STAMP): package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $@

audit-tools: $(AUDIT_STAMP)

test: $(STAMP) catalogs
	@if command -v npm >/dev/null; then $(MAKE) --no-print-directory audit-tools; fi
	$(BIN)/python -m pytest -n auto

lint: $(STAMP)
	$(BIN)/ruff check tracker tests bench config.py wsgi.py
	$(BIN)/mypy

bench: $(STAMP)
	command -v wrk >/dev/null && command -v nginx >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq wrk nginx-light)
	$(BIN)/python bench/run.py --write bench/RESULTS.md

clean:  # keeps .env, which may hold your Stripe test keys
	rm -rf $(VENV) instance .pytest_cache node_modules translations/*/LC_MESSAGES/*.mo
