# The two commands a newcomer needs: `make run` and `make test`.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell md5sum pyproject.toml | cut -c1-8)

.PHONY: setup run test bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(VENV)/bin/syncops

test: setup
	env -u TEXTUAL_THEME -u TEXTUAL_ANIMATIONS -u NO_COLOR $(PY) -m pytest -q -n 2 -p no:cacheprovider

clean:
	rm -rf $(VENV) .pytest_cache snapshot_report.html

bench: setup
	$(PY) -m bench

bench-quick: setup
	$(PY) -m bench --quick
