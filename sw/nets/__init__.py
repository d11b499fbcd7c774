"""Trained networks that run on the accelerator: the project's own data, training and
post-training int8 quantization (:mod:`.digits`: scikit-learn's digits)."""
