"""File formats: BVH and DeepMimic export, matplotlib previews (frame strips, GIF and MP4)."""
