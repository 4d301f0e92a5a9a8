"""The models behind ``xpnet train``, each in one place with its loss, data and sampling:

* :mod:`~xpnet.models.mnist`: the MNIST classifiers (CNN, the course's one-filter CNN, MLP,
  LSTM over rows).
* :mod:`~xpnet.models.char_lm`: the character Transformer, its data, loss, optimizer and
  schedule, evaluation and sampling (:func:`generate`).
* :mod:`~xpnet.models.vae`: PyTorch's reference VAE and its loss (the negative ELBO).
* :mod:`~xpnet.models.dcgan`: the DCGAN, its losses, alternating updates and fit step,
  sampling (:func:`generate_images`).
* :mod:`~xpnet.models.scoring`: scoring generated digits with a fixed MNIST classifier.

All of them train through :func:`xpnet.fit`; image grids are :mod:`xpnet.train`'s and are
offered here too.
"""
from .mnist import mnist_cnn, mnist_seed_cnn, mnist_mlp, mnist_lstm, SequenceClassifier
from .char_lm import (CharTransformer, generate, char_lm_split, random_windows,
                      consecutive_windows, next_character_loss, char_lm_optimizer,
                      char_lm_schedule, evaluate_char_lm)
from .vae import VAE, vae_loss, VAELoss, InputsAsTargets, latent_grid
from .dcgan import (dcgan_init_, dcgan_generator, dcgan_discriminator, DCGAN, GENERATOR_LOSSES,
                    discriminator_step, generator_step, gan_step, GANStep,
                    generator_gradient_norm, generate_images, save_discriminator_plot)
from .scoring import mnist_classifier, inception_score
from ..train.plots import image_grid, save_image_grid

__all__ = ["mnist_cnn", "mnist_seed_cnn", "mnist_mlp", "mnist_lstm", "SequenceClassifier",
           "CharTransformer", "generate", "char_lm_split", "random_windows",
           "consecutive_windows", "next_character_loss", "char_lm_optimizer", "char_lm_schedule",
           "evaluate_char_lm", "VAE", "vae_loss", "VAELoss", "InputsAsTargets", "latent_grid",
           "dcgan_init_", "dcgan_generator", "dcgan_discriminator", "DCGAN", "GENERATOR_LOSSES",
           "discriminator_step", "generator_step", "gan_step", "GANStep",
           "generator_gradient_norm", "generate_images", "save_discriminator_plot",
           "mnist_classifier", "inception_score", "image_grid", "save_image_grid"]
