# media-edge: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what they need: a project venv (.venv) with pinned Python tools via uv.

SHELL := /bin/bash
VENV := .venv
UV_VERSION := 0.13.8
CARGO ?= cargo
export CARGO_TERM_COLOR ?= auto

# The ffmpeg the Lambda layer ships, for this machine's architecture: tests and the demo use it.
HOST_ARCH := $(shell uname -m | sed 's/aarch64/arm64/')
FFMPEG := .local/ffmpeg/$(HOST_ARCH)/bin/ffmpeg
export FFMPEG_PATH := $(abspath $(FFMPEG))

.PHONY: help demo test lint fmt venv lock clean ffmpeg layer

help:
	@echo "make demo   run the whole pipeline locally against an AWS emulator"
	@echo "make test   run every test (unit, emulator integration, template checks)"
	@echo "make lint   clippy and rustfmt check"

## Python tools (moto, cfn-lint) in a project venv, pinned by requirements-dev.txt.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -r requirements-dev.txt
	touch $@

ffmpeg: $(FFMPEG)
$(FFMPEG): scripts/fetch-ffmpeg.sh | venv
	scripts/fetch-ffmpeg.sh $(HOST_ARCH) .local/ffmpeg/$(HOST_ARCH)

lock:
	$(VENV)/bin/uv pip compile --quiet --python $(VENV)/bin/python --python-version 3.11 requirements-dev.in -o requirements-dev.txt

## Rust: unit tests need nothing; integration tests talk to the emulator over HTTP.
test: venv ffmpeg lint
	scripts/test-summary.sh scripts/with-emulator.sh $(CARGO) test --workspace --locked

demo: venv ffmpeg
	$(CARGO) build --locked --bin local-demo
	scripts/with-emulator.sh $(CARGO) run --quiet --locked --bin local-demo -- samples

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) .local target
