from .speech_to_text_salign import SpeechToTextSAlignTask  # noqa: F401 (registers the task)
