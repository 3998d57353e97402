"""Trainers for the project's small offline encoders (``python -m hen_demo train-encoder``).

Kept apart from :mod:`hen_demo.encoders`: training reads datasets (``hen_demo.data``), while the encoders and
their weight loader (``encoders.shipped``) never do, so data -> encoders is the only import direction.

* :mod:`hen_demo.training.small` -- vq-small, kl-small, dvae-small (tiles + digits + faces, held-out photos);
* :mod:`hen_demo.training.robust` -- robust-small (damaged -> clean tile pairs, our extension).
"""
