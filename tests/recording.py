"""A stream wrapper for the loop tests (test_loop.py, test_crowd.py)."""

from controller.protocols import FrameStream


class Recording(FrameStream):
    """A FrameStream that remembers the frames the stream it wraps hands out."""

    def __init__(self, stream):
        self.stream, self.frames = stream, []

    underruns = property(lambda self: self.stream.underruns)
    wait_seconds = property(lambda self: self.stream.wait_seconds)
    buffered = property(lambda self: self.stream.buffered)
    capacity = property(lambda self: self.stream.capacity)
    finished = property(lambda self: self.stream.finished)

    def next_frame(self):
        frame = self.stream.next_frame()
        if frame is not None:
            self.frames.append(frame)
        return frame

    def close(self):
        self.stream.close()
