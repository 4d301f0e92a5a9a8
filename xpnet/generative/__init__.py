"""Training and scoring the course's generative models: the library half of the VAE and GAN
recipes (the models are in :mod:`xpnet.models`).

* VAE: :func:`vae_loss` (the negative ELBO: summed BCE + KL to N(0, I)), :func:`train_vae_epoch`,
  :func:`evaluate_vae`, :func:`latent_grid`.
* GAN: :func:`gan_step` (one alternating update: the discriminator on a real and a generated
  batch, then the generator through the updated discriminator, with the non-saturating
  −log D(G(z)) or the saturating log(1 − D(G(z))) loss), :func:`train_gan_epoch`,
  :func:`generate`.
* Scoring generated digits with a fixed classifier: :func:`inception_score`.
* Pictures: :func:`image_grid` (NumPy), :func:`save_image_grid` and
  :func:`save_discriminator_plot` (matplotlib).

Nothing here reads the device in a training step: losses and statistics are summed on the
device and read back once per epoch (or per ``log_every`` steps).
"""

from .vae import vae_loss, train_vae_epoch, evaluate_vae, latent_grid
from .gan import (GENERATOR_LOSSES, discriminator_step, generator_step, gan_step,
                  generator_gradient_norm, train_gan_epoch, generate)
from .scoring import mnist_classifier, inception_score
from .pictures import image_grid, save_image_grid, save_discriminator_plot

__all__ = ["vae_loss", "train_vae_epoch", "evaluate_vae", "latent_grid", "GENERATOR_LOSSES",
           "discriminator_step", "generator_step", "gan_step", "generator_gradient_norm",
           "train_gan_epoch", "generate", "mnist_classifier", "inception_score", "image_grid",
           "save_image_grid", "save_discriminator_plot"]
