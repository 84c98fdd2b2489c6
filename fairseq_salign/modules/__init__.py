"""Plain ``nn.Module`` building blocks of S-Align; each takes explicit constructor arguments."""
from .acoustic_encoder import AcousticEncoder
from .adapters import ADAPTERS, AdapterOutput
from .ctc import ctc_greedy_decode, ctc_loss, ctc_targets
from .mixup import mix_speech_with_text
from .modal_network import ModalNetwork
from .pooling import masked_mean
from .textual_encoder import TextualEncoder

__all__ = [
    "ADAPTERS",
    "AcousticEncoder",
    "AdapterOutput",
    "ModalNetwork",
    "TextualEncoder",
    "ctc_greedy_decode",
    "ctc_loss",
    "ctc_targets",
    "masked_mean",
    "mix_speech_with_text",
]
