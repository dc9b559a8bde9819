# virtkit: the two set-up commands are `make demo` and `make test`.
VENV    ?= .venv
PY      := $(VENV)/bin/python
# Debian packages the tests drive (interop peers); installed only when missing.
APT_PKGS := libvirt-clients python3-libvirt libvirt-daemon qemu-system-x86 qemu-utils kmod cpio \
            nftables dnsmasq-base virtinst iproute2 lvm2 e2fsprogs util-linux scrub \
            openssh-server netcat-openbsd libsasl2-modules

.PHONY: demo test venv sysdeps lint typecheck pytest bench clean

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV) 2>/dev/null || { rm -rf $(VENV); \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && \
	  python3 -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

sysdeps:
	@missing=""; for p in $(APT_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

lint: venv
	$(VENV)/bin/ruff check src tests bench scripts

typecheck: venv
	$(VENV)/bin/mypy

pytest: venv sysdeps
	$(VENV)/bin/pytest -q

test: sysdeps venv lint typecheck pytest

demo: venv sysdeps
	$(PY) scripts/demo.py

bench: venv sysdeps
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
