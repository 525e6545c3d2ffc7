# The two commands a new user needs: `make demo` and `make test`. Both create the environment first.
# Deploying to AWS: `make package` and `make deploy` (README "Deploy on AWS").
# The functions' Lambda runtime (cfn/template.yaml, scripts/lambda_artifact.py); .python-version names it
# for pyenv.
PYTHON ?= python3.13
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Development and test tools, with the runtime dependencies, pinned with hashes (make lock-dev).
DEV_LOCK := requirements-dev.lock
# What mypy checks: strict on bot/ (pyproject.toml), the default checks elsewhere.
TYPED := bot handlers sandbox drs_cli tests benchmarks scripts
# checkov pins boto3/botocore far below what the bot needs: it lives in a venv of its own.
CHECKOV_VENV := $(VENV)/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

# make deploy BUCKET=<S3 bucket for the artifact, in the stack's region> [STACK=...] [ACCESS_POLICY='<json>']
#             [PARAMS='Key=Value ...'] (the AWS CLI's own region and credentials apply)
STACK ?= drs-chatops
BUCKET ?=
ACCESS_POLICY ?=
PARAMS ?=

.PHONY: demo test lint typecheck unit integration e2e cfn-lint checkov infra-lint package lock lock-dev deploy bench \
	clean

$(STAMP): pyproject.toml $(DEV_LOCK)
	@# A venv of another Python (an older PYTHON) is rebuilt, not patched over.
	@if [ -x $(BIN)/python ] && [ "$$($(BIN)/python -c 'import sys; print(*sys.version_info[:2], sep=".")')" != \
		"$$($(PYTHON) -c 'import sys; print(*sys.version_info[:2], sep=".")')" ]; then rm -rf $(VENV); fi
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	@# Exactly the locked versions, each checked against its hash; then the project itself, whose
	@# dependencies the lock already holds.
	$(BIN)/pip install --quiet --require-hashes --requirement $(DEV_LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(CHECKOV_STAMP): scripts/checkov-requirements.lock
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --require-hashes --requirement scripts/checkov-requirements.lock
	touch $(CHECKOV_STAMP)

demo: $(STAMP)
	$(BIN)/drs-bot demo

# Everything CI runs (.ci/run): the checks, then every test tier in one pytest run, on PYTEST_WORKERS
# processes (pytest-xdist; CI has two cores): whole files, and the e2e package whole (tests/conftest.py).
# PYTEST_WORKERS=0 runs the tests in pytest's own process.
PYTEST_WORKERS ?= 2
PARALLEL := -n $(PYTEST_WORKERS) --dist loadgroup

test: lint typecheck infra-lint
	$(BIN)/python -m pytest $(PARALLEL)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy $(TYPED)

cfn-lint: $(STAMP)
	$(BIN)/cfn-lint cfn/*.yaml

# Skips are written next to the resource they concern, each with its reason (checkov:skip=ID:why).
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --directory cfn --framework cloudformation --skip-download --compact --quiet

infra-lint: cfn-lint checkov

# The tiers, for a quicker loop than make test. unit: pure code and fakes in-process, no servers.
unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

# Components against real servers: moto, the DRS emulator, the Slack fakes; the template and packaging.
integration: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) tests/integration tests/emulator tests/sandbox tests/infrastructure

# The whole bot in the sandbox, from signed Slack requests to what DRS received and the thread says.
e2e: $(STAMP)
	$(BIN)/python -m pytest $(PARALLEL) tests/e2e

# The Lambda artifact (dist/drs-chatops-lambda.zip) from scripts/lambda-requirements.lock; needs PyPI.
package: $(STAMP)
	$(BIN)/python scripts/lambda_artifact.py build

# Re-pin the artifact's dependencies after changing pyproject.toml's dependencies; needs PyPI.
lock: $(STAMP)
	$(BIN)/python scripts/lambda_artifact.py lock

# Re-pin the development environment after changing pyproject.toml; needs PyPI. Packages the Lambda
# artifact also ships keep its versions (scripts/lambda-requirements.lock, make lock). checkov's venv is
# pinned by hand in scripts/checkov-requirements.txt; its lock adds the hashes.
lock-dev: $(STAMP)
	@mkdir -p build
	sed -n 's/^\([A-Za-z0-9._-]*==[^ ]*\).*/\1/p' scripts/lambda-requirements.lock > build/lambda-pins.txt
	$(BIN)/uv pip compile pyproject.toml --extra dev --universal --python-version 3.13 --generate-hashes --quiet \
		--constraint build/lambda-pins.txt --custom-compile-command "make lock-dev" --output-file $(DEV_LOCK)
	$(BIN)/uv pip compile scripts/checkov-requirements.txt --universal --python-version 3.13 --generate-hashes --quiet \
		--custom-compile-command "make lock-dev" --output-file scripts/checkov-requirements.lock

deploy: $(STAMP)
	@test -n "$(BUCKET)" || { echo "usage: make deploy BUCKET=<s3 bucket> [STACK=$(STACK)] [ACCESS_POLICY='<json>'] [PARAMS='Key=Value ...']" >&2; exit 2; }
	@command -v aws >/dev/null || { echo "make deploy needs the AWS CLI v2 (aws)" >&2; exit 2; }
	$(BIN)/python scripts/lambda_artifact.py build
	aws cloudformation package --template-file cfn/template.yaml --s3-bucket $(BUCKET) \
		--s3-prefix $(STACK) --output-template-file dist/packaged.yaml
	aws cloudformation deploy --template-file dist/packaged.yaml --stack-name $(STACK) \
		--s3-bucket $(BUCKET) --s3-prefix $(STACK) --capabilities CAPABILITY_IAM --no-fail-on-empty-changeset \
		$(if $(ACCESS_POLICY)$(PARAMS),--parameter-overrides $(if $(ACCESS_POLICY),'AccessPolicy=$(ACCESS_POLICY)') $(PARAMS))
	aws cloudformation describe-stacks --stack-name $(STACK) --query "Stacks[0].Outputs" --output table

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
