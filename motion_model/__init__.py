"""The motion model: the body (kinematics, motion files, clips), the synthesis engine that makes the training
data, and the learner (the diffusion model, its training and checkpoints). Its public API; each name's module
owns it."""

from motion_model.body.motion import Motion
from motion_model.body.skeleton import Skeleton
from motion_model.engine.synthesis import synthesize
from motion_model.learner.checkpoint import LoadedModel, load_model

__all__ = ["LoadedModel", "Motion", "Skeleton", "load_model", "synthesize"]
