# medviz: two commands. `make run` sets everything up and opens the app; `make test` sets up and runs all tests.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DB ?= medviz.duckdb
PORT ?= 8501
STAMP := $(VENV)/.installed

.PHONY: run test setup sample bench clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test,auth,dicom]'
	touch $(STAMP)

setup: $(STAMP)

sample: $(STAMP)
	@test -f $(DB) || $(BIN)/medviz demo --db $(DB)

run: sample
	$(BIN)/medviz serve --db $(DB) --port $(PORT)

browser:
	@command -v chromium >/dev/null 2>&1 || command -v /usr/bin/chromium >/dev/null 2>&1 || \
	  { (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) || echo "chromium could not be installed: browser tests will be skipped"; }

test: $(STAMP) browser
	$(BIN)/python -m pytest tests

bench: $(STAMP)
	@for f in bench/*.py; do case $$f in *make_scale.py|*__init__.py|*_child.py) continue;; esac; echo "== $$f"; $(BIN)/python $$f || exit 1; done | tee bench/last-run.txt; grep '^RESULT' bench/last-run.txt

clean:
	rm -rf $(VENV) *.egg-info sample_data/generated
