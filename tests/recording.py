"""A stream wrapper for the loop tests (test_loop.py, test_crowd.py)."""


class Recording:
    """A stream that remembers the frames it hands out."""

    def __init__(self, stream):
        self.stream, self.frames = stream, []

    def next_frame(self):
        frame = self.stream.next_frame()
        if frame is not None:
            self.frames.append(frame)
        return frame

    def close(self):
        self.stream.close()
