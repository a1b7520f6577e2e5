# Everything a learner types, one target each. `make help` lists them.
# The first target that needs it creates venv/ and installs requirements.txt.

PYTHON ?= python3
PORT ?= 8000
VENV := venv
PY := $(abspath $(VENV))/bin/python
READY := $(VENV)/.installed
PARTS := 1 2 3 4

.DEFAULT_GOAL := help
.PHONY: help run run-cluster test test-load lint format clean

help: ## List the targets.
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | \
		sed -E 's/:.*## /\t/; s/%/N/' | \
		awk -F'\t' '{ printf "  make %-16s %s\n", $$1, $$2 }'

$(READY): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: run-part-4 ## Run the finished chat (part 4) on http://127.0.0.1:8000/chat/.

run-part-%: $(READY) ## Run stage N (1-4); PORT=8001 picks another port.
	cd part_$* && $(PY) manage.py migrate --verbosity 0 && $(PY) manage.py runserver 127.0.0.1:$(PORT)

run-cluster: $(READY) ## Run stage PART (default 3) as PROCESSES (default 2) servers on one Redis.
	$(PY) -m shared_tests.cluster --part $(or $(PART),3) --processes $(or $(PROCESSES),2) --port $(PORT)

test: $(READY) ## Run every test of every stage, on both channel layers.
	$(PY) -m pytest

test-load: $(READY) ## The full load test: 200 clients x 10 messages, parts 2-4, both layers.
	$(PY) -m pytest -k full_room --load-messages 10 -s

test-part-%: $(READY) ## Run the shared tests against stage N only.
	$(PY) -m pytest --part $*

diff-part-%: ## Show the code that stage N (2-4) changes in stage N-1 (READMEs aside).
	@diff -ruN --exclude=__pycache__ --exclude='*.sqlite3' --exclude='.*_cache' --exclude=README.md part_$(shell expr $* - 1) part_$* || [ $$? -eq 1 ]

lint: $(READY) ## Check the code with ruff (lint and format).
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(READY) ## Let ruff fix what it can and format the code.
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean: ## Remove the virtual environment, databases and test artifacts.
	rm -rf $(VENV) test-artifacts .run .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
	rm -f part_*/db.sqlite3 part_*/db_test.sqlite3

.PHONY: check screenshots
check: $(READY) ## Check your own project as stage N: make check PART=2 PROJECT=path/to/mysite-folder.
	@test -n "$(PART)" -a -n "$(PROJECT)" || { echo "usage: make check PART=N PROJECT=path/to/the/folder/with/manage.py"; exit 2; }
	$(PY) -m pytest -q --tb=no -p no:cacheprovider --part=$(PART) --project="$(abspath $(PROJECT))"

screenshots: $(READY) ## Regenerate screenshots/ (what each stage shows in a browser).
	$(PY) -m shared_tests.screenshots

.PHONY: bench
bench: $(READY) ## Benchmark parts 2-3 against a bare websockets server; QUICK=1 for a small run.
	$(PY) -m bench $(if $(QUICK),--quick)
