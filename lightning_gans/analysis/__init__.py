"""From studies to the paper's figures: tidy frames, budget curves, tables, figures, and the notebooks' runner.

Submodules are imported explicitly (`from lightning_gans.analysis import frames`), so that reading a frame does not
pull in plotting.
"""
