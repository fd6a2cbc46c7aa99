#!/usr/bin/env bash
# Stops the cluster tests/slurm/start.sh started.
pkill -x slurmd || true
pkill -x slurmctld || true
