# Quick start: `make run` (console with a demo) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APT_PACKAGES := ca-certificates slapd ldap-utils libldap2-dev libsasl2-dev chromium fonts-liberation \
  samba samba-ad-dc samba-ad-provision redis-server
CLARITY_VERSION := 18.2.0
MUTMUT_VERSION := 3.8.1
CLARITY_CSS := static/vendor/clr-ui.min.css
# The accessibility checker the browser tests inject into each page; never served by the console.
AXE_VERSION := 4.14.1
AXE_JS := var/npm/axe-core-$(AXE_VERSION)/axe.min.js

.PHONY: run test deps system-deps bench mutation lint format clean

run: deps
	$(PY) manage.py demo

test: deps
	$(PY) -m pytest $(PYTEST_ARGS)

bench: deps
	$(PY) bench/sync_benchmark.py $(BENCH_ARGS)

# Mutation testing of the modules whose mistakes cost data (not part of CI; about 25
# minutes on two cores, docs/testing.md). Ends with one mutation_score_<area>=<percent>
# line per area. The writer's survivors, and its PostgreSQL-only functions (COPY, ANY,
# unnest) that no test reaches on SQLite, are tried again on PostgreSQL when it answers
# at MUTATION_DATABASE_URL, with which tests reach which function measured again there.
# A mutant's tests spend part of their time waiting on scripted agents and servers, so
# three run at once on two cores.
MUTATION_CHILDREN ?= 3
MUTATION_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
mutation: deps
	$(PY) -m pip install -q mutmut==$(MUTMUT_VERSION)
	rm -rf mutants
	HYPOTHESIS_PROFILE=mutation $(VENV)/bin/mutmut run --max-children $(MUTATION_CHILDREN) > var/mutmut.log 2>&1
	survivors=$$($(PY) tools/mutation_scores.py --survivors writer); \
	if [ -n "$$survivors" ] && pg_isready -q -d "$(MUTATION_DATABASE_URL)"; then \
	  rm -f mutants/mutmut-stats.json; \
	  DATABASE_URL="$(MUTATION_DATABASE_URL)" HYPOTHESIS_PROFILE=mutation \
	    $(VENV)/bin/mutmut run --max-children 1 $$survivors >> var/mutmut.log 2>&1; \
	fi
	$(PY) tools/mutation_scores.py $(MUTATION_ARGS)

deps: system-deps $(VENV)/.installed $(CLARITY_CSS) $(AXE_JS)

# Installs only what is missing, so a prepared machine spends no time here. Packages are
# installed without their Recommends, so everything a test or the demo uses is named:
# samba-ad-provision (AD provisioning), fonts-liberation (Chromium renders text), and
# on a bare machine python3-venv, a C compiler and Python's headers (python-ldap builds).
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	command -v npm >/dev/null || missing="$$missing npm"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v $(PYTHON) >/dev/null || missing="$$missing python3"; \
	$(PYTHON) -c "import venv, ensurepip" 2>/dev/null || missing="$$missing python3-venv"; \
	command -v cc >/dev/null || missing="$$missing gcc"; \
	$(PYTHON) -c "import os, sys, sysconfig; \
	  sys.exit(not os.path.exists(os.path.join(sysconfig.get_paths()['include'], 'Python.h')))" \
	  2>/dev/null || missing="$$missing python3-dev"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  $$SUDO sh -c 'pkill -x slapd; pkill -x samba; pkill -x smbd; pkill -x nmbd; pkill -x winbindd; true'; \
	fi

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	mkdir -p var
	$(PY) -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
	  print('\n'.join(p['dependencies'] + p['optional-dependencies']['test']))" > var/requirements.txt
	$(PY) -m pip install -q -r var/requirements.txt
	touch $@

$(CLARITY_CSS):
	mkdir -p var/npm static/vendor
	cd var/npm && npm pack -q @clr/ui@$(CLARITY_VERSION) >/dev/null && tar xzf clr-ui-$(CLARITY_VERSION).tgz
	cp var/npm/package/clr-ui.min.css $(CLARITY_CSS)
	cp var/npm/package/LICENSE static/vendor/clr-ui.LICENSE 2>/dev/null || true

$(AXE_JS):
	mkdir -p var/npm/axe-core-$(AXE_VERSION)
	cd var/npm && npm pack -q axe-core@$(AXE_VERSION) >/dev/null && \
	  tar xzf axe-core-$(AXE_VERSION).tgz -C axe-core-$(AXE_VERSION) --strip-components=1

lint: deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var static/vendor test-artifacts mutants
