# The two commands: `make up` starts Candela (embedded), `make test` runs every test.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif

.PHONY: up test lint sync

sync:
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	@$(UV) sync --frozen --quiet

up: sync
	$(UV) run candela up $(ARGS)

test: sync
	$(UV) run ruff check .
	$(UV) run python scripts/test.py $(ARGS)

lint: sync
	$(UV) run ruff check .
	$(UV) run ruff format --check .
