"""`lightning-gans bench`: how fast the project trains, scores and sweeps, measured against what it could be.

- training: the GAN LightningModule under a `pl.Trainer` against a minimal hand-written loop over the same
  networks, objectives, optimizers and data, run side by side in one process (ratio per loss);
- evaluation: seconds for FD + IS + KID (and the mode-collapse diagnostics) of 10,000 samples, extractor speed;
- sweeps: trials per hour of real `lightning-gans sweep` processes with one and with two workers.

`command.py` parses the arguments and runs the parts; `report.py` writes the JSON file and prints the tables.
"""
