"""The synthesis engine: mocap cycles fitted to any terrain along any path (the training data).

What the runtime controller may use of it is its public surface (motion_model.engine.surface): pace, halts
and route shaping, one owner each.
"""
