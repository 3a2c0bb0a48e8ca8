"""ganpipe: a reproducible GAN-study pipeline (AE, VAE, GAN, WGAN on MNIST)."""

__version__ = "0.1.0"
