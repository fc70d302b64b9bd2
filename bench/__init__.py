"""tunebench: a fair benchmark of hyperparameter-tuning backends for Keras models."""

import os

# Quiet TensorFlow's C++ start-up chatter before anything imports it (`bench run --verbose` restores the user's level).
USER_TF_LOG_LEVEL = os.environ.get("TF_CPP_MIN_LOG_LEVEL")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
