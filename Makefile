# virtkit: the two set-up commands are `make demo` and `make test`; `make check` is the
# quick developer loop (lint, types, the tests that start no VM and no daemon).
VENV    ?= .venv
PY      := $(VENV)/bin/python

.PHONY: demo test check venv sysdeps bytecode lint typecheck pytest unit bench clean

# The venv, with virtkit installed editable. Where python3 has no venv module, Debian's
# python3-venv is installed first (one line of output; apt's goes to .cache/sysdeps.log).
$(VENV)/.installed: pyproject.toml
	@python3 -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); \
	  python3 scripts/sysdeps.py python3-venv && python3 -m venv $(VENV); }
	@mkdir -p .cache
	@echo "venv: installing virtkit and its pinned dependencies into $(VENV) (log: .cache/pip.log)"
	@{ $(PY) -m pip install -q --upgrade pip && $(PY) -m pip install -q -e '.[test]'; } \
	  >.cache/pip.log 2>&1 || { tail -n 40 .cache/pip.log; echo "venv: pip failed; log: .cache/pip.log"; exit 1; }
	@touch $@

venv: $(VENV)/.installed

# An editable install writes no bytecode, and with PYTHONDONTWRITEBYTECODE set every CLI
# call would compile virtkit again (a wheel install compiles at install time): compile
# once here; later runs only recompile what changed.
bytecode: venv
	@$(PY) -m compileall -q src/virtkit

# Debian packages the project drives and the peers its tests compare with; files the
# tests read from packages that must not be installed (scripts/sysdeps.py says which).
sysdeps:
	@python3 scripts/sysdeps.py

lint: venv
	$(VENV)/bin/ruff check src tests bench scripts

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv sysdeps bytecode
	$(VENV)/bin/pytest -q

unit: venv bytecode
	$(VENV)/bin/pytest -q --unit

test: sysdeps venv bytecode lint typecheck pytest

check: lint typecheck unit

demo: venv sysdeps bytecode
	$(PY) scripts/demo.py

bench: venv sysdeps bytecode
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache .cache
