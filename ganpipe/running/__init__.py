"""How commands and their runs execute: process set-up, atomic files, the findings' runs on this
machine (a pool) or a Dask cluster and what a person watches meanwhile, and MLflow tracking."""
