"""PyBullet: the scene, the simulator loop, balls, the GUI viewer and headless rendering."""
