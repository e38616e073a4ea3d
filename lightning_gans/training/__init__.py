"""Training: the GAN LightningModule, the losses it trains with, the network pairs, and what keeps DDP and the
progress bar in the paper's units. Everything that changes a network's weights lives here."""
