#!/usr/bin/env bash
# The mixtures study of docs/studies/mixtures.md, as a user runs it: for ring8 and grid25, every loss of the study and
# the VAE baseline over the wide space (100 trials each, the authors' setting as trial 0, full length), then the best
# setting of each re-run with SEEDS seeds. Every step is a `make` command; running this again continues the study
# where it stopped (the storage knows which trials are complete), so it can span several sittings.
#
#   bash docs/studies/mixtures/run-study.sh            # the whole study, into docs/studies/mixtures/optuna.journal
#   DATASETS=ring8 LOSSES="ns_gan wgan" bash docs/studies/mixtures/run-study.sh   # a part of it
set -euo pipefail
cd "$(dirname "$0")/../../.."

STORAGE=${STORAGE:-docs/studies/mixtures/optuna.journal}
WORKERS=${WORKERS:-2}
SEEDS=${SEEDS:-20}
DATASETS=${DATASETS:-ring8 grid25}
LOSSES=${LOSSES:-mm_gan ns_gan lsgan wgan wgan_gp dragan began vae}

for dataset in $DATASETS; do
  for loss in $LOSSES; do
    make sweep LOSS="$loss" DATASET="$dataset" STORAGE="$STORAGE" WORKERS="$WORKERS" TRIALS=100
  done
  for loss in $LOSSES; do
    make reruns LOSS="$loss" DATASET="$dataset" STORAGE="$STORAGE" WORKERS="$WORKERS" SEEDS="$SEEDS"
  done
done
