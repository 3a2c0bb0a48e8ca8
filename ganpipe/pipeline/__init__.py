"""One module per DVC stage: from validated params to the stage's files and its MLflow run.

The CLI commands call these and nothing else; dvc.yaml lists each module as its stage's code
dependency, so editing the report does not retrain the GAN.
"""

from pathlib import Path

MNIST = Path("stages/prepare/mnist.npz")  # the prepare stage's split, which the training stages read
