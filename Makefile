# The course in two commands: `make run` and `make test`. Both bootstrap .venv themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv lock system lessons docs serve lint format clean i18n

run: venv system ## set up, run every lesson (once: only what changed), build the site into site/
	$(BIN)/lessonlib run --all --changed
	$(BIN)/lessonlib docs

# The lessons' cases run once, in the dev check (stub and solution, through check and grade);
# pytest then runs the library's tests (tests/), among them the check/grade agreement test.
test: venv system ## the whole test suite: dev check (every lesson's cases), library tests, site
	$(BIN)/lessonlib dev check
	$(BIN)/python -m pytest tests -q

venv: $(STAMP)

# Installs exactly what uv.lock pins (re-locking first when pyproject.toml changed).
$(STAMP): pyproject.toml uv.lock scripts/install-python.sh scripts/uv.sh
	@bash scripts/install-python.sh "$(PYTHON)" "$(VENV)"
	@touch $@

lock: ## refresh uv.lock: every dependency to the newest version pyproject.toml allows
	@PYTHON=$(PYTHON) bash scripts/uv.sh lock --upgrade --python $(PYTHON)

system: ## graphviz (dot) and chromium: installed when root, explained otherwise
	@bash scripts/install-system.sh

lessons: venv system
	$(BIN)/lessonlib run --all --changed

docs: venv system
	$(BIN)/lessonlib docs

serve: venv
	$(BIN)/lessonlib docs --serve

i18n: venv ## re-extract the CLI's messages (lessonlib.pot), merge them into ko.po, compile
	$(BIN)/pybabel extract -k _ -k N_ --no-location --sort-output --project=lessonlib \
	  -o lessonlib/locale/lessonlib.pot lessonlib lessons
	$(BIN)/pybabel update -D lessonlib -i lessonlib/locale/lessonlib.pot -d lessonlib/locale \
	  --ignore-obsolete --no-fuzzy-matching
	$(BIN)/pybabel compile -D lessonlib -d lessonlib/locale

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf build site .lessonlib
