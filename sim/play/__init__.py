"""`terrain-mdm play`: live characters driven by keys in the PyBullet GUI, or headless from timed commands."""
