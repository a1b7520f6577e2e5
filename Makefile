# Everything a learner types, one target each. `make help` lists them.
# The first target that needs it creates venv/ and installs requirements.txt.

PYTHON ?= python3
PORT ?= 8000
VENV := venv
PY := $(abspath $(VENV))/bin/python
READY := $(VENV)/.installed
BENCH_READY := $(VENV)/.bench-installed
# pytest-django would set up whatever project an exported one names, in every
# run of the suite; the suite and the stages choose their own settings.
unexport DJANGO_SETTINGS_MODULE
# The tutorial's parts 2-4 expect Redis on 127.0.0.1:6379: tools/redis.py
# provides it for as long as the command runs (an existing one is used).
WITH_TUTORIAL_REDIS = $(if $(filter 2 3 4,$*),$(PY) -m tools.redis --in part_$* --,cd part_$* &&)

.DEFAULT_GOAL := help
.PHONY: help run redis run-cluster serve test test-part-5-unpatched test-matrix test-no-browser lint format clean compare check screenshots bench wheels

help: ## List the targets.
	@grep -hE '^[a-zA-Z%_-]+:.*## ' $(MAKEFILE_LIST) | \
		sed -E 's/:.*## /\t/; s/%/N/' | \
		awk -F'\t' '{ printf "  make %-16s %s\n", $$1, $$2 }'
	@echo
	@echo "  part_1/ ... part_4/  the tutorial's stages    part_5/  beyond the tutorial"
	@echo "  shared_tests/  the suite    harness/  what the suite and tools share    tools/  the commands above    bench/  make bench"
	@echo "  screenshots/  make screenshots    README.md  start here    TROUBLESHOOTING.md  symptoms and fixes    CONTRIBUTING.md  maintainers' notes"

$(READY): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The benchmark's chart needs more than a learner's install.
$(BENCH_READY): bench/requirements.txt $(READY)
	$(PY) -m pip install --quiet -r bench/requirements.txt
	touch $@

run: run-part-4 ## Run the finished tutorial (part 4) on http://127.0.0.1:8000/chat/.

run-part-%: $(READY) ## Run stage N (1-5); PORT=8001 picks another port.
	@test -d part_$* || { echo "There is no part_$*: the stages are 1 to 5."; exit 2; }
	cd part_$* && $(PY) manage.py migrate --verbosity 0
	$(WITH_TUTORIAL_REDIS) $(PY) manage.py runserver 127.0.0.1:$(PORT)

redis: $(READY) ## Run Redis on 127.0.0.1:6379, as the tutorial expects, until Ctrl-C.
	$(PY) -m tools.redis

run-cluster: $(READY) ## Run stage PART (default 5) as PROCESSES (default 2) servers on one Redis.
	$(PY) -m tools.cluster --part $(or $(PART),5) --processes $(or $(PROCESSES),2) --port $(PORT)

serve: $(READY) ## Serve part 5 as in production: nginx on PORT, PROCESSES (2) uvicorn, Redis; TLS=1 for https, SENTINEL=1 for a Redis that fails over.
	$(PY) -m tools.preflight --skip browser
	$(PY) -m tools.serve --processes $(or $(PROCESSES),2) --port $(PORT) $(if $(TLS),--tls) $(if $(SENTINEL),--sentinel)

test: $(READY) ## Run every test of every stage, on both channel layers.
	$(PY) -m tools.preflight
	$(PY) -m pytest

test-matrix: $(READY) ## Run every test on Django 5.2 (Python 3.11), then on Django 6.1 (newest Python 3.12+); SESSION=django61 for one.
	$(PY) -m nox $(if $(SESSION),--session $(SESSION))

test-part-%: $(READY) ## Run the tests against stage N (1-5) only.
	$(PY) -m tools.preflight
	$(PY) -m pytest --part $*

# Every module of part 5 set apart for an upstream project, switched off:
# part 5 must hold without them (shared_tests/test_upstream.py checks the list).
UNPATCHED := CHAT_SKIP_DB_HOP_FOR_GROUP_EVENTS=off CHAT_DAPHNE_FLOW_CONTROL=off \
	CHAT_FAST_IN_MEMORY_LAYER=off CHAT_REDIS_ONE_READER=off CHAT_SENTINEL_RECONNECT=off \
	CHAT_CONSUMER_READERS=off CHAT_WEBSOCKET_SEND_UNWRAPPED=off CHAT_DAPHNE_LEAN_SEND=off \
	CHAT_REDIS_GROUP_SEND_PIPELINED=off CHAT_DAPHNE_SHUTDOWN=off CHAT_SHARE_DB_HOP=off

test-part-5-unpatched: $(READY) ## Run part 5's tests with every module set apart for an upstream switched off.
	$(PY) -m tools.preflight
	$(UNPATCHED) $(PY) -m pytest --part 5

test-no-browser: $(READY) ## Run every test that needs no browser.
	$(PY) -m tools.preflight --skip browser
	$(PY) -m pytest -m "not browser"

diff-part-%: ## Show the code that stage N (2-5) changes in stage N-1 (READMEs aside).
	@diff -ruN --exclude=__pycache__ --exclude='*.sqlite3' --exclude='.*_cache' --exclude=README.md part_$(shell expr $* - 1) part_$* || [ $$? -eq 1 ]

compare: $(READY) ## Compare your own folder with stage N, as code: make compare PART=2 PROJECT=path/to/mysite-folder.
	@test -n "$(PART)" -a -n "$(PROJECT)" || { echo "usage: make compare PART=N PROJECT=path/to/the/folder/with/manage.py"; exit 2; }
	@$(PY) -m tools.compare --part $(PART) "$(abspath $(PROJECT))" || [ $$? -eq 1 ]

# make check PYTHON=path runs the learner's project with their own interpreter
# (PYTHON given on the command line; the one that makes venv/ is the default).
LEARNERS_PYTHON = $(if $(filter command line,$(origin PYTHON)),--python="$(PYTHON)")

check: $(READY) ## Check your own project as stage N: make check PART=2 PROJECT=path/to/mysite-folder [PYTHON=its/venv/bin/python].
	@test -n "$(PART)" -a -n "$(PROJECT)" || { echo "usage: make check PART=N PROJECT=path/to/the/folder/with/manage.py [PYTHON=path/to/its/python]"; exit 2; }
	@$(PY) -m tools.preflight --skip nginx
	$(PY) -m pytest -q --tb=no -p no:cacheprovider -n 0 --part=$(PART) --project="$(abspath $(PROJECT))" $(LEARNERS_PYTHON)

screenshots: $(READY) ## Regenerate screenshots/ (what each stage shows in a browser).
	$(PY) -m tools.screenshots

bench: $(BENCH_READY) ## Benchmark the stages against a bare websockets server; QUICK=1 for a small run.
	$(PY) -m bench $(if $(QUICK),--quick)

wheels: $(READY) ## Check that requirements.txt installs from wheels on every OS and Python (needs PyPI).
	$(PY) -m tools.wheels

lint: $(READY) ## Check the code with ruff (lint and format).
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(READY) ## Let ruff fix what it can and format the code.
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

clean: ## Remove the virtual environment, databases and test artifacts.
	rm -rf $(VENV) .nox test-artifacts .run .pytest_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
	rm -f part_*/db.sqlite3 part_*/db_test.sqlite3
