# The two Quickstart commands: `make demo` and `make test`.
.PHONY: setup demo test lint bench

setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/srprune demo

test: setup
	.venv/bin/python -m pytest -q -p no:cacheprovider -n 2

lint: setup
	.venv/bin/ruff check src tests bench

bench: setup
	.venv/bin/python bench/latency_ssl.py
