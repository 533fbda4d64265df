"""The body: the DeepMimic humanoid's skeleton and kinematics, quaternions, legs, motion files and mocap clips.

Plain kinematics with no learning in it: the engine (motion_model.engine) and the learner
(motion_model.learner) both build on it.
"""
