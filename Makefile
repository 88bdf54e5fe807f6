# The entry points a person types. `make` alone lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STACK := $(BIN)/imgsim-stack
# The secured stack beside the plain one: its settings, read by the shell before the launcher.
SECURED := set -a && . infra/native/secured-stack.env && set +a &&
# The fault suite's own stack, which its scenarios stop and start: never the shared one.
FAULTS := set -a && . infra/native/faults-stack.env && set +a &&

.PHONY: help install up down status up-secured down-secured status-secured test-secured up-faults down-faults logs provision demo api worker publish ingest check checker sample-set train model-swap evaluate bench bench-vectorizer bench-search bench-sink bench-reconcile bench-freshness bench-upload bench-upload-load bench-secured test test-unit test-integration test-browser test-slow test-quick test-faults mutation lint compose-check prometheus-config screenshots clean-stack

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,vectorizer,search-api,indexer-check]'
	touch $@

install: $(BIN)/.installed ## create .venv with the project and its dev tools

up: install ## start Kafka, Connect and Elasticsearch natively (fetched once), provision them, and Prometheus when installed
	$(STACK) up

down: install ## stop what `make up` started, nothing else
	$(STACK) down

status: install ## health, pid and log of each component
	$(STACK) status

up-faults: install ## the fault suite's own stack (.stack/faults, ports 28092/28083/28200), left running for repeated runs
	$(FAULTS) $(STACK) up

down-faults: install ## stop the fault suite's stack
	$(FAULTS) $(STACK) down

up-secured: install ## a secured stack (TLS, SCRAM, logins) beside the plain one in .stack/secured; its services read .stack/secured/security/client.env
	$(SECURED) $(STACK) up

down-secured: install ## stop the secured stack
	$(SECURED) $(STACK) down

status-secured: install ## health of the secured stack's components
	$(SECURED) $(STACK) status

logs: install ## follow the components' logs
	tail -n 20 -F .stack/logs/*.log

provision: install ## topics, index template and alias, sink connector on a running stack
	$(STACK) provision

demo: up ## the main job end to end: paint a collection, vectorize, index and search it
	$(BIN)/imgsim demo

api: install ## run the search API on :8000 (SEARCH_API_* settings; uploads: a worker's embedding endpoint)
	SEARCH_API_EMBEDDING_URL=$${SEARCH_API_EMBEDDING_URL-http://127.0.0.1:9466} $(BIN)/uvicorn imgsim_search_api.app:create_app --factory --host 127.0.0.1 --port 8000

worker: install ## run a vectorizer worker in the foreground (VECTORIZER_* settings)
	$(BIN)/imgsim worker

publish: install ## publish IMAGES=folder [METADATA=all_data_info.csv] to the image-path topic
	@test -n "$(IMAGES)" || { echo "usage: make publish IMAGES=folder [METADATA=csv]"; exit 2; }
	$(BIN)/imgsim publish "$(IMAGES)" $(if $(METADATA),--metadata "$(METADATA)")

ingest: install ## publish IMAGES=folder [METADATA=csv] and follow it until indexed (needs `make worker`)
	@test -n "$(IMAGES)" || { echo "usage: make ingest IMAGES=folder [METADATA=csv]"; exit 2; }
	$(BIN)/imgsim ingest "$(IMAGES)" $(if $(METADATA),--metadata "$(METADATA)")

sample-set: install ## paint the labelled sample set into DIR=.stack/sample-set (ARGS=--per-artist N ...)
	$(BIN)/imgsim sample-set "$(or $(DIR),.stack/sample-set)" $(ARGS)

train: install ## train the genre/style network on IMAGES=folder METADATA=csv into models/ (ARGS=--epochs N ...)
	@test -n "$(IMAGES)" -a -n "$(METADATA)" || { echo "usage: make train IMAGES=folder METADATA=csv"; exit 2; }
	$(BIN)/imgsim train --images "$(IMAGES)" --metadata "$(METADATA)" --out models $(ARGS)

model-swap: install ## index the collection with MODEL=models/<folder>, then search it (VECTORIZER_IMAGE_ROOT: the collection)
	@test -n "$(MODEL)" || { echo "usage: make model-swap MODEL=models/<folder>"; exit 2; }
	$(BIN)/imgsim model swap "$(MODEL)"

evaluate: install ## retrieval quality through the search API (IMAGES=, METADATA=, MODEL=)
	@test -n "$(IMAGES)" -a -n "$(METADATA)" || { echo "usage: make evaluate IMAGES=folder METADATA=csv [MODEL=dir]"; exit 2; }
	$(BIN)/imgsim evaluate --images "$(IMAGES)" --metadata "$(METADATA)" $(if $(MODEL),--model "$(MODEL)")

check: install ## one-off ingestion health report; exit code follows the state (ARGS=--reconcile|--json|--watch)
	$(BIN)/imgsim check $(ARGS)

checker: install ## run the consistency checker on :9465 (/health, /metrics; INDEXER_CHECK_* settings)
	$(BIN)/python -m imgsim_indexer_check

bench: bench-vectorizer bench-search bench-sink bench-reconcile bench-freshness bench-upload bench-upload-load bench-secured ## every benchmark

bench-vectorizer: up ## vectorizer: raw model vs full pipeline, JPEG draft decoding
	$(BIN)/python bench/vectorizer_bench.py

bench-search: up ## search API vs direct Elasticsearch at 1, 8, 32 clients (index of 75,000 built once)
	$(BIN)/python bench/search_api_bench.py

bench-sink: up ## sink: paintings contract v1 (JSON) vs v2 (CBOR float32); key/header read of 75,000 records
	$(BIN)/python bench/sink_bench.py

bench-reconcile: up ## checker: id-level reconciliation of 75,000 paintings (topics and index built once)
	$(BIN)/python bench/reconcile_bench.py

bench-freshness: up ## publish one image on an idle pipeline -> listed by the search API (p50/p95)
	$(BIN)/python bench/freshness_bench.py

bench-upload-load: up ## similar-by-id at 8 clients alone and while 16 clients post 20 MB uploads (p50/p95, 429s)
	$(BIN)/python bench/upload_load_bench.py

bench-secured: up up-secured ## what TLS and SCRAM cost ingestion: the worker's images/s on the plain and the secured stack
	$(BIN)/python bench/secured_ingest_bench.py

bench-upload: up ## upload search: the API without the model (memory, time to ready, latency), before and after
	$(BIN)/python bench/upload_bench.py

test: install ## every test; starts the real stack when it is not running, reuses it when it is
	$(BIN)/pytest

test-unit: install ## tests that need no running stack (small models, generated images, stand-ins)
	$(BIN)/pytest -m "not integration"

test-integration: install ## integration tests against the real stack (the browser tests among them)
	$(BIN)/pytest -m integration

test-browser: install ## the gallery in Debian's headless Chromium (needs `apt install chromium`)
	$(BIN)/pytest -m browser

test-slow: install ## the tests that take 10 s or more each
	$(BIN)/pytest -m slow

test-quick: install ## every test but the slow ones
	$(BIN)/pytest -m "not slow"

test-faults: install ## the fault suite: workers killed, Kafka/Connect/Elasticsearch stopped (on their own stack), disk full, the API during an outage, hostile input, the API fuzzed; report in .stack/faults-report.md
	$(BIN)/pytest -m faults

test-secured: install ## the secured stack's tests, the secured end-to-end pipeline among them (starts the stack in .stack/secured)
	$(BIN)/pytest -m secured

mutation: install ## mutation testing of the unit tests, one module at a time (~30 min; NAMES="query images" for some)
	$(BIN)/python tests/mutation/run.py $(NAMES)

lint: install ## ruff and mypy (strict)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

prometheus-config: install ## regenerate infra/prometheus/prometheus.yml (docker-compose's scrape config)
	$(BIN)/python -m imgsim_stack.prometheus > infra/prometheus/prometheus.yml

screenshots: install ## the README's gallery screenshots (desktop, phone) from the API at API_URL (default http://127.0.0.1:8000)
	$(BIN)/python infra/tools/gallery_screenshots.py --api $${API_URL-http://127.0.0.1:8000}

compose-check: ## validate docker-compose.yml with the docker client
	docker compose config --quiet

clean-stack: down ## delete the native stack's data and logs (keeps the download cache)
	rm -rf .stack
