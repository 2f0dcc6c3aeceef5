"""The one error type the audio package raises."""


class AudioError(Exception):
    """Bad input, failed or timed-out synthesis, or unusable encoder output."""
