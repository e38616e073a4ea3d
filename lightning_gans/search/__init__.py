"""The paper's search: its spaces, Optuna studies and where they are stored, one trial as a `fit` config, the worker
loop, and the `sweep` and `reruns` commands that start workers."""
