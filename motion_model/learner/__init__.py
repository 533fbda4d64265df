"""The learner: the motion diffusion model (network, condition, command, features), its DDIM schedule, the
training windows and training, and checkpoints."""
