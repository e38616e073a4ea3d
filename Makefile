# lightning-gans: every user command is a target; each one works on a fresh machine (it depends on setup).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.setup-stamp

LOSS ?= ns_gan
DATASET ?= fashion_mnist
BACKBONE ?=
STEPS ?=
SEED ?= 0
EVAL_SAMPLES ?=
EXTRACTOR ?= auto
SPACE ?= wide
TRIALS ?=
STUDY ?=
STORAGE ?= runs/optuna.journal
GPUS ?=
WORKERS ?= 1
PACK ?= auto
SAMPLER ?= random
OBJECTIVE ?= auto
SEEDS ?= 50
PORT ?= 8080
STUDIES ?=
REPORTS ?= reports

known = $(notdir $(basename $(wildcard lightning_gans/configs/$(1)/*.yaml)))
check_name = $(if $(wildcard lightning_gans/configs/$(1)/$(2).yaml),,$(error unknown $(3)=$(2); valid: $(call known,$(1))))

# Recipes that take STORAGE are not echoed: a database URL may hold a password (the commands print it redacted;
# better, keep it out of the URL with PGPASSWORD or ~/.pgpass: docs/sweeps.md).
# A sweep's optional study flags, and the `fit` arguments it passes to every trial.
study_flags = $(if $(BACKBONE),--backbone $(BACKBONE)) $(if $(STUDY),--study $(STUDY)) $(if $(GPUS),--gpus $(GPUS)) \
	$(if $(filter true,$(CONDITIONAL)),--conditional true)
trial_flags = --evaluation.extractor=$(EXTRACTOR) --evaluation.objective=$(OBJECTIVE) \
	$(if $(STEPS),--model.steps=$(STEPS)) $(if $(EVAL_SAMPLES),--evaluation.samples=$(EVAL_SAMPLES))

.PHONY: setup demo train sweep reruns dashboard analysis report train-classifier bias-check bench inception-weights test \
	test-all lint

# Bad names fail while the Makefile is read, before setup or training does anything.
ifneq ($(filter train sweep reruns,$(MAKECMDGOALS)),)
$(call check_name,losses,$(LOSS),LOSS)
$(call check_name,data,$(DATASET),DATASET)
$(if $(BACKBONE),$(call check_name,backbones,$(BACKBONE),BACKBONE))
endif

setup: $(STAMP)

# Re-installs when the dependencies change; otherwise a no-op. torch and torchvision come from the
# registry's default (CUDA) builds, which also run on CPU-only machines.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# A complete small study in about ten minutes on a 2-core CPU: sweeps of three losses, reruns, report and analysis,
# into runs/demo and reports/demo (reports/demo/index.html links everything).
demo: $(STAMP)
	$(BIN)/lightning-gans demo

train: $(STAMP)
	$(BIN)/lightning-gans fit \
		--config lightning_gans/configs/data/$(DATASET).yaml \
		$(if $(BACKBONE),--config lightning_gans/configs/backbones/$(BACKBONE).yaml) \
		--config lightning_gans/configs/losses/$(LOSS).yaml \
		$(if $(STEPS),--model.steps $(STEPS)) \
		$(if $(EVAL_SAMPLES),--evaluation.samples $(EVAL_SAMPLES)) \
		$(if $(filter true,$(CONDITIONAL)),--data.conditional true) \
		--evaluation.extractor $(EXTRACTOR) \
		--seed_everything $(SEED) \
		--run.name $(LOSS)-$(DATASET)$(if $(filter true,$(CONDITIONAL)),-conditional)

# The paper's search for one loss; running it again continues the study until TRIALS trials are complete.
sweep: $(STAMP)
	@$(BIN)/lightning-gans sweep --loss $(LOSS) --dataset $(DATASET) --space $(SPACE) --storage $(STORAGE) \
		--workers $(WORKERS) --pack $(PACK) --seed $(SEED) --sampler $(SAMPLER) $(study_flags) $(trial_flags) \
		$(if $(TRIALS),--trials $(TRIALS))

# The best setting of a sweep re-run with seeds 0..SEEDS-1, in the study <study>-reruns.
reruns: $(STAMP)
	@$(BIN)/lightning-gans reruns --loss $(LOSS) --dataset $(DATASET) --space $(SPACE) --storage $(STORAGE) \
		--seeds $(SEEDS) --workers $(WORKERS) --pack $(PACK) --seed $(SEED) $(study_flags) $(trial_flags)

# optuna-dashboard on the sweep storage, on this machine only.
dashboard: $(STAMP)
	@$(BIN)/optuna-dashboard $(STORAGE) --host 127.0.0.1 --port $(PORT)

# The paper's figures and tables from any studies (STUDIES: names or patterns, comma-separated; default all):
# the notebooks in lightning_gans/notebooks/ executed headless into REPORTS, with HTML, PNG/SVG figures and CSV tables.
analysis: $(STAMP)
	@$(BIN)/lightning-gans analysis --storage $(STORAGE) --output $(REPORTS) $(if $(STUDIES),--study $(STUDIES))

# The same summary as a table in the terminal.
report: $(STAMP)
	@$(BIN)/lightning-gans report --storage $(STORAGE) $(if $(STUDIES),--study $(STUDIES))

# The offline feature extractor (FD/IS/KID in 'domain' features); `make train` also trains it on first use.
train-classifier: $(STAMP)
	$(BIN)/lightning-gans train-classifier --data $(DATASET)

# The paper's bias check: real train images scored against real test images.
bias-check: $(STAMP)
	$(BIN)/lightning-gans bias-check --data $(DATASET) --extractor $(EXTRACTOR) $(if $(EVAL_SAMPLES),--samples $(EVAL_SAMPLES))

# Throughput, printed as tables and written to REPORTS/bench.json: every loss's Lightning module against a plain
# PyTorch loop (same networks, losses, optimizers, data; ratio per loss) on the paper's network (Fashion-MNIST) and
# on the mixtures' MLP (ring8), seconds per evaluation of 10,000 samples, sweep trials/hour with 1 and 2 workers, and
# trials/hour of K trials trained as one pack (K = 1..32). Takes a while on a CPU; run it on a quiet machine.
# Optional: BENCH_STEPS (timed D steps per run; each case its own by default), BENCH_REPEATS (runs per loop),
# BENCH_PARTS (training,evaluation,sweeps,packing), BENCH_WORKERS (worker counts to compare, e.g. 1,2,4,8 on one
# GPU), BENCH_PACKS (pack sizes K, e.g. 1,16).
bench: $(STAMP)
	$(BIN)/lightning-gans bench --output $(REPORTS)/bench.json $(if $(BENCH_STEPS),--steps $(BENCH_STEPS)) \
		$(if $(BENCH_REPEATS),--repeats $(BENCH_REPEATS)) $(if $(BENCH_PARTS),--parts [$(BENCH_PARTS)]) \
		$(if $(BENCH_WORKERS),--sweep_workers [$(BENCH_WORKERS)]) $(if $(BENCH_PACKS),--pack_sizes [$(BENCH_PACKS)])

# The FID Inception weights (torch-fidelity's release), checked against the SHA-256 prefix in their name and put where
# runs look for them: $LIGHTNING_GANS_INCEPTION_WEIGHTS if set, else the torch hub cache (docs/evaluation.md).
inception-weights: $(STAMP)
	$(BIN)/lightning-gans inception-weights

test: $(STAMP)
	$(BIN)/python -m pytest

# Everything, the slow multi-process and real-data checks included.
test-all: $(STAMP)
	$(BIN)/python -m pytest -m "slow or not slow"

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
