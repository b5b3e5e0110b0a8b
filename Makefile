# Every target sets itself up: a fresh machine needs only Python 3.11.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit e2e clean synth deploy bench fuzz soak package test-package lock

# Installs exactly the locked versions (requirements.lock, every dependency, transitive
# included), then this project itself without resolving anything again. pip installs only uv
# (at the lock's version); uv installs the rest: about 20 s where pip took over 5 minutes.
$(STAMP): requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q "$$(grep '^uv==' requirements.lock)"
	$(BIN)/uv pip install -q --python $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

## lock: after changing pyproject.toml's dependencies, resolve again into requirements.lock
## (everything, dev and infra included) and requirements.txt (what Chalice packages: the
## runtime dependencies less chalice, at the locked versions). Needs the package registry.
UV_COMPILE = $(BIN)/uv pip compile --universal --python-version 3.11 --quiet
lock: $(STAMP)
	$(UV_COMPILE) pyproject.toml --extra dev --extra infra -o requirements.lock
	$(BIN)/python -m sscard_ops.locks lambda-requirements | \
		$(UV_COMPILE) - --constraint requirements.lock -o requirements.txt --no-header
	$(BIN)/python -m sscard_ops.locks annotate requirements.txt

## run: the whole local stack (moto server, chalice local, queue poller), seeded, on 127.0.0.1:8000
run: $(STAMP)
	$(BIN)/sscard serve

## test: lint, types, and every test (unit, contract, API, end to end), on every core
## (the tests sharing the local stack or the CDK synth together on one worker: tests/conftest.py)
PYTEST_CORES = -n auto --dist loadgroup
test: $(STAMP) lint typecheck
	$(BIN)/pytest $(PYTEST_CORES)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy app.py chalicelib sscard_ops infra tests/fakes.py tests/fake_payments.py tests/fake_stays.py tests/world.py

unit: $(STAMP)
	$(BIN)/pytest $(PYTEST_CORES) -m "not e2e"

## fuzz: the longer contract fuzz (schemathesis, 50 examples per operation and caller kind) and
## the fault sweep checking the invariants after every injected fault (not part of test)
fuzz: $(STAMP)
	SSCARD_FUZZ_EXAMPLES=50 $(BIN)/pytest tests/e2e/test_fuzz_contract.py -s
	SSCARD_FAULTS_EVERY_STEP=1 $(BIN)/pytest tests/test_reliability_faults.py -s

## soak: the randomized concurrent mix over HTTP (payments, cancels, contributions) at length,
## then the invariants; SSCARD_SOAK_SEED=<printed seed> replays a run (not part of test)
soak: $(STAMP)
	SSCARD_SOAK_OPS=$${SSCARD_SOAK_OPS:-2000} $(BIN)/pytest tests/e2e/test_fuzz_concurrency.py -s

## bench: every benchmark (not part of test) into bench/results.md; 33 minutes on 2 shared cores at load
## 5-7 (2026-12-02; docs/capacity.md)
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

## package: the Lambda function zip (under 5 MB, without what Lambda's runtime provides) and the
## cryptography layer, into dist/lambda/ (sscard_ops/lambda_package.py; about 2 minutes)
package: $(STAMP)
	$(BIN)/python -m sscard_ops.lambda_package --out dist/lambda

## test-package: build the package, then check it (size, and /health on the runtime's libraries alone)
test-package: package
	$(BIN)/pytest tests/test_packaging.py

## synth: STAGE's CloudFormation template (default prod) into cdk.out/, offline (docs/deploy.md)
STAGE ?= prod
CDK_CLI := aws-cdk@2.1148.1
synth: $(STAMP)
	rm -rf cdk.out
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-cn-north-1} $(BIN)/python infra/synth.py --stage $(STAGE) --outdir cdk.out

## deploy: synth, then deploy STAGE's stack with your AWS credentials (docs/deploy.md)
deploy: synth
	npx --yes $(CDK_CLI) deploy --app cdk.out $(STAGE) --require-approval broadening

clean:
	rm -rf $(VENV) .local cdk.out chalice.out dist .mypy_cache .pytest_cache .ruff_cache
