"""Errors raised by the scene layer. Each names the input and what is wrong with it."""


class SceneError(ValueError):
    """A scene, mesh or room description could not be loaded or is invalid."""


class ParameterError(KeyError):
    """An unknown parameter name, or a value of the wrong shape / type / with NaN."""

    def __str__(self):  # KeyError would print the repr of the message
        return str(self.args[0]) if self.args else ""


class CalibrationError(SceneError):
    """A camera calibration file is malformed, uses an unsupported camera model, or does not match
    the photographs it describes."""


class PhotoError(SceneError):
    """A photograph or mask could not be read, or does not match its calibration."""
