# media-edge: the two commands a newcomer needs are `make demo` and `make test`.
# Both install what they need: a project venv (.venv) with pinned Python tools via uv.

SHELL := /bin/bash
VENV := .venv
UV_VERSION := 0.13.8
CARGO ?= cargo
export CARGO_TERM_COLOR ?= auto
# A CI run builds once from a fresh clone: incremental caches would only take disk (one CI run
# here filled it and failed).
ifdef CI
export CARGO_INCREMENTAL := 0
endif

# The ffmpeg the Lambda layer ships, for this machine's architecture: tests and the demo use it.
HOST_ARCH := $(shell uname -m | sed 's/aarch64/arm64/')
FFMPEG := .local/ffmpeg/$(HOST_ARCH)/bin/ffmpeg
export FFMPEG_PATH := $(abspath $(FFMPEG))

.PHONY: help demo test invoke disk-check soak deployed-build lint fmt venv lock clean nasm nginx ffmpeg layer layer-check bench bench-deps bench-avif-encoders sample-logs template validate deploy-tools build deploy preflight smoke

help:
	@echo "make demo   run the whole pipeline locally against an AWS emulator"
	@echo "make test   run every test (unit, emulator integration, template checks)"
	@echo "make lint   clippy and rustfmt check"
	@echo "make invoke FUNCTION=image-processor EVENT=events/image-processor/sns-wrapped.json"
	@echo "            one function with a sample event through cargo lambda, on the template deployed locally"
	@echo "make soak   2,000 uploads through the deployed build under injected faults (make test runs 60)"
	@echo "make bench  benchmarks (variants vs libvips and sharp, AVIF/WebP vs sharp, cold start, GIF → MP4, CDN log report)"
	@echo "make bench-avif-encoders  AV1 encoders and settings against sharp's AVIF bytes (rav1e, libaom, SVT-AV1)"
	@echo "make layer  ffmpeg Lambda layer zips for arm64 and x86_64"
	@echo "make validate / make build / make deploy   the SAM template; arm64 zips; sam build + deploy"
	@echo "make preflight / make smoke STACK=name      before a deploy: the account checked; after: the live stack proven"

## Python tools (moto, cfn-lint) in a project venv, pinned by requirements-dev.txt.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -r requirements-dev.txt
	touch $@

## nasm assembles libjpeg-turbo's x86 SIMD (the mozjpeg crate builds it from source) for builds
## that target this machine, when it is x86_64: tests, demo, lint, benchmarks. The Lambda builds
## (`make build`, `make deploy`) target arm64, where mozjpeg-sys compiles NEON C and GNU assembler
## sources and runs no nasm (its build.rs: nasm only for x86 and x86_64 targets), so they need
## neither nasm nor root. On an arm64 machine nothing here needs it.
nasm:
	@if [ "$(HOST_ARCH)" = x86_64 ] && ! command -v nasm >/dev/null; then \
	  echo "installing nasm (Debian package) for libjpeg-turbo's x86 SIMD"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nasm >/dev/null; \
	fi

## Debian's nginx, the legacy web server the migration tests move a site off (a real one, with
## the access log it really writes). Installed only when missing.
nginx:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
	  echo "installing nginx (Debian package nginx-light) for the legacy-origin tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null; \
	fi

ffmpeg: $(FFMPEG)
$(FFMPEG): scripts/fetch-ffmpeg.sh | venv
	scripts/fetch-ffmpeg.sh $(HOST_ARCH) .local/ffmpeg/$(HOST_ARCH)

## The ffmpeg Lambda layer, both architectures: target/layers/ffmpeg-{arm64,x86_64}.zip
layer: venv
	scripts/build-ffmpeg-layer.sh

## Building and deploying (needs AWS credentials for deploy). Tools in their own venv.
DEPLOY_VENV := .venv-deploy
DEPLOY_PATH := $(abspath $(DEPLOY_VENV))/bin:$(PATH)

deploy-tools: $(DEPLOY_VENV)/.installed
$(DEPLOY_VENV)/.installed: requirements-deploy.txt
	python3 -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(DEPLOY_VENV)/bin/uv pip install --quiet --python $(DEPLOY_VENV)/bin/python -r requirements-deploy.txt
	touch $@

# Release builds for arm64 (cargo-lambda cross-compiles with zig), zipped: target/lambda/<fn>/bootstrap.zip
# No nasm (arm64 SIMD is NEON) and no root: tools come from PyPI into .venv-deploy.
build: deploy-tools
	PATH=$(DEPLOY_PATH) cargo lambda build --release --arm64 --output-format zip \
	  --bin image-processor --bin notifier --bin edge-router --bin release-controller

## Before a deploy (read-only; `make deploy` runs it first): the account's Lambda concurrency, the
## Region, the v2 log fields, Athena, Slack and these deploy tools, against infra/samconfig.toml's
## parameters. `media-edge-doctor` is the doctor alone: no image codecs, so no nasm or root.
## REGION=… and PARAMS="Key=Value …" add to samconfig.toml's. Exits 1 on any ✗.
DOCTOR := $(CARGO) run --locked --quiet -p media-edge-doctor --bin media-edge-doctor --
preflight: deploy-tools
	$(DOCTOR) preflight $(if $(REGION),--region $(REGION)) $(if $(PARAMS),--parameter-overrides "$(PARAMS)")

## After a deploy: the live stack end to end with probe objects, removed afterwards (STACK=name;
## KEEP=1 leaves them). AVIF and MP4 are decoded with the pinned ffmpeg.
smoke: ffmpeg
	@test -n "$(STACK)" || { echo "usage: make smoke STACK=<stack name>"; exit 2; }
	FFMPEG_PATH=$(abspath $(FFMPEG)) $(DOCTOR) smoke --stack $(STACK) $(if $(KEEP),--keep)

# sam build (BuildMethod rust-cargolambda) and deploy; guided the first time (writes infra/samconfig.toml).
# Preflight first: what would roll the first deploy back is found before anything is created.
deploy: deploy-tools layer template preflight
	cd infra && PATH=$(DEPLOY_PATH) sam build --template template.yaml --beta-features
	cd infra && if [ -f samconfig.toml ]; then PATH=$(DEPLOY_PATH) sam deploy; \
	  else PATH=$(DEPLOY_PATH) sam deploy --guided --capabilities CAPABILITY_IAM; fi

## The SAM template: rendered from infra/template.in.yaml (inlines the CloudFront Functions).
template: venv
	$(VENV)/bin/python scripts/render-template.py

validate: venv
	$(VENV)/bin/python scripts/render-template.py --check
	$(VENV)/bin/cfn-lint infra/template.yaml
	$(VENV)/bin/python scripts/check-template-wiring.py

layer-check: layer
	scripts/check-layer.sh

## Benchmarks (not part of `make test`). Corpus photos come from Debian's lomiri-wallpapers.
## Peers for the variant benchmark: libvips' vipsthumbnail (Debian) and sharp (npm, pinned by
## bench/sharp/package-lock.json); ImageMagick makes the corpus and the SSIM references.
bench-deps:
	@if [ ! -d /usr/share/backgrounds ] || [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf ] \
	  || ! command -v vipsthumbnail >/dev/null || [ ! -x /usr/bin/convert ] || [ ! -x /usr/bin/time ]; then \
	  echo "installing benchmark tools (Debian: lomiri-wallpapers fonts-dejavu-core libvips-tools imagemagick time)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	    lomiri-wallpapers fonts-dejavu-core libvips-tools imagemagick time; \
	fi
	cd bench/sharp && npm ci --no-audit --no-fund --silent

bench: venv nasm ffmpeg bench-deps
	$(CARGO) build --release --locked --bin media-edge --bin image-processor
	$(VENV)/bin/python bench/variants.py
	$(VENV)/bin/python bench/formats.py
	$(VENV)/bin/python bench/cold_start.py
	$(VENV)/bin/python bench/gif_to_mp4.py --ffmpeg $(FFMPEG_PATH) --equal-ssim
	$(VENV)/bin/python bench/cdn_logs.py
	FFMPEG_PATH=$(FFMPEG_PATH) $(CARGO) run --release --locked --example crop-hits -p image-processor -- \
	  $$(ls -d target/bench/variants-corpus/*.jpg | head -4)
	$(CARGO) run --release --locked --example face-hits -p image-processor -- \
	  bench/faces/labels.json $$($(VENV)/bin/python bench/faces.py)

## Which AV1 encoder settings could reach sharp's AVIF bytes, and how fast (docs/benchmarks.md).
bench-avif-encoders: venv nasm ffmpeg bench-deps
	$(VENV)/bin/python bench/avif_encoders.py

## The sample CloudFront logs in samples/cdn-logs and their originals' manifests in
## samples/cdn-manifests (deterministic; tests compare against goldens).
sample-logs:
	rm -rf samples/cdn-logs samples/cdn-manifests
	python3 scripts/make-sample-logs.py samples/cdn-logs --plain-hours 12 --malformed-hour 12 \
	  --manifests samples/cdn-manifests

lock:
	$(VENV)/bin/uv pip compile --quiet --python $(VENV)/bin/python --python-version 3.11 requirements-dev.in -o requirements-dev.txt

## image-processor as deployment builds it (cargo lambda, release profile and flags), for this
## machine, checked for the panic strategy; its test runs the bootstrap under a local Runtime API.
deployed-build: venv nasm
	scripts/deployed-build.sh

## Everything: lint, validate, layer-check, deployed-build and every test, in parallel groups
## (scripts/run-tests.sh says which; each group's log is in target/test-logs/).
test: disk-check venv nasm nginx ffmpeg
	scripts/test-summary.sh scripts/run-tests.sh

## A cold `make test` writes about 6 GB (target/, .venv, ffmpeg): say so up front rather than fail
## an hour in with "No space left on device".
disk-check:
	@free_kb=$$(df -Pk . | awk 'NR==2 {print $$4}'); \
	if [ "$$free_kb" -lt 8000000 ]; then \
	  echo "warning: $$((free_kb / 1024)) MB free here; a cold make test needs about 6 GB (target/ grows with every build: cargo clean frees it)" >&2; \
	fi

## The long soak (make test runs the same test with 60 uploads): SOAK_UPLOADS, SOAK_INSTANCES,
## SOAK_FAULTS_PER_MILLE, SOAK_KILL_EVERY; figures printed at the end.
soak: venv nasm ffmpeg deployed-build
	SOAK_UPLOADS=$${SOAK_UPLOADS:-2000} scripts/with-emulator.sh $(CARGO) test -p image-processor --test it --locked \
	  -- --include-ignored --nocapture soak_

## One function invoked with a sample event through cargo lambda's Runtime API, against the
## template deployed on the emulator, with the deployed function's environment
## (infra/emulator/invoke.py). FUNCTION: image-processor, notifier, edge-router,
## release-controller; EVENT: a file under events/ (each function has a default);
## PARAMS="Key=Value ..." for the stack; BUILD=deployed for cargo-lambda's release build.
FUNCTION ?= image-processor
BUILD ?= debug
DEFAULT_EVENT_image-processor := events/image-processor/sns-wrapped.json
DEFAULT_EVENT_notifier := events/notifier/status-batch.json
DEFAULT_EVENT_edge-router := events/edge-router/get-cohort-3.json
DEFAULT_EVENT_release-controller := events/release-controller/schedule.json
EVENT ?= $(DEFAULT_EVENT_$(FUNCTION))
ifeq ($(BUILD),deployed)
INVOKE_BINARY := target/lambda/$(FUNCTION)/bootstrap
INVOKE_BUILD := PATH=$(abspath $(VENV))/bin:$$PATH cargo lambda build --release --compiler cargo --locked --bin $(FUNCTION)
else
INVOKE_BINARY := target/debug/$(FUNCTION)
INVOKE_BUILD := $(CARGO) build --locked --bin $(FUNCTION)
endif
invoke: venv nasm ffmpeg
	@test -n "$(EVENT)" || { echo "FUNCTION is one of image-processor, notifier, edge-router, release-controller" >&2; exit 2; }
	$(INVOKE_BUILD)
	scripts/with-emulator.sh $(VENV)/bin/python -m infra.emulator invoke --function $(FUNCTION) --event $(EVENT) \
	  --binary $(INVOKE_BINARY) $(foreach p,$(PARAMS),--param $(p))

# The demo profile (Cargo.toml): dev, with image-processor optimised, so its times are real.
demo: venv nasm ffmpeg
	$(CARGO) build --locked --profile demo --bin local-demo --bin media-edge
	scripts/with-emulator.sh target/demo/local-demo samples
	@printf '\n  CDN log report over a day of sample CloudFront logs, with what each format saved against the\n  originals (media-edge logs samples/cdn-logs --top 5 --manifests samples/cdn-manifests):\n\n'
	@target/demo/media-edge logs samples/cdn-logs --top 5 --chart target/demo-traffic.svg \
	  --manifests samples/cdn-manifests
	@target/demo/media-edge logs samples/cdn-logs --format html \
	  --manifests samples/cdn-manifests > target/demo-report.html
	@printf '\n  hourly chart: target/demo-traffic.svg\n  the same report as a page (open it in a browser): target/demo-report.html\n'

## rustfmt, clippy with warnings denied, and no module circles in any crate (scripts/module-graph.py).
lint: nasm
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	for crate in crates/*/; do python3 scripts/module-graph.py --quiet $$crate || exit 1; done

fmt:
	$(CARGO) fmt --all

clean:
	rm -rf $(VENV) $(DEPLOY_VENV) .local target
