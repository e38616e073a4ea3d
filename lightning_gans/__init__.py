"""lightning-gans: the GAN objectives of "Are GANs Created Equal?" on shared backbones, trained by Lightning."""

__version__ = "0.1.0"
