"""Training: the networks, each model's training step, the one loop they share, what a step costs
in FLOPs, and a run from a config to a folder of outputs."""
