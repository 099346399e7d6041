# The two commands: `make up` starts Candela (laptop mode), `make test` runs every test.
# uv (https://docs.astral.sh/uv/) is installed from PyPI into ~/.local/bin when it is missing.
UV ?= $(or $(shell command -v uv 2>/dev/null),$(HOME)/.local/bin/uv)

.PHONY: up test lint sync uv

uv:
	@command -v "$(UV)" >/dev/null 2>&1 || { \
		echo "make: uv not found, installing it into ~/.local/bin"; \
		python3 -m pip install --user --quiet uv \
		|| { echo "make: could not install uv; see https://docs.astral.sh/uv/getting-started/installation/" >&2; exit 1; }; \
	}

sync: uv
	@"$(UV)" sync --frozen --quiet

up: sync
	"$(UV)" run candela up $(ARGS)

test: sync
	@bash scripts/system_packages.sh
	"$(UV)" run ruff check .
	"$(UV)" run python scripts/test.py $(ARGS)

lint: sync
	"$(UV)" run ruff check .
	"$(UV)" run ruff format --check .
