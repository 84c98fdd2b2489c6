"""One registry shape for front ends, feature kinds, VADs, adapters and alignment objectives:
register / build / get, choices derived from it, an unknown name named with the option."""
import pytest

from fairseq_salign.registry import Registry


class Part:
    def __init__(self, size, scale=1):
        self.size, self.scale = size, scale

    @classmethod
    def make(cls, size):
        return cls(size, scale=10)


def test_register_build_get_and_choices():
    parts = Registry("part", "--part")
    parts.register("a", Part)

    @parts.register("b")
    def build_b(size):
        return Part(size, 2)

    assert parts.choices == ("a", "b") and "a" in parts and list(parts) == ["a", "b"]
    assert parts.get("a") is Part and parts.build("a", 3, scale=5).scale == 5
    assert parts.build("b", 1).scale == 2
    with pytest.raises(KeyError, match="--part 'c': unknown part; choose one of a, b"):
        _unknown()
    with pytest.raises(ValueError, match="part 'a' is already registered"):
        parts.register("a", Part)
    parts.unregister("b")
    assert parts.choices == ("a",)


def _unknown():
    strict = Registry("part", "--part", KeyError)
    strict.register("a", Part)
    strict.register("b", Part)
    strict.build("c")


def test_construct_decides_how_a_part_is_built():
    parts = Registry("part", "--part", construct=lambda cls, size: cls.make(size))
    parts.register("a", Part)
    assert parts.build("a", 4).scale == 10


def test_every_plugin_registry_has_the_shape():
    from fairseq_salign.criterions.alignment import ALIGNMENTS
    from fairseq_salign.data.features import KINDS
    from fairseq_salign.frontends import FRONTENDS
    from fairseq_salign.modules import ADAPTERS
    from fairseq_salign.segmentation import VADS, VADError

    for registry in (ALIGNMENTS, KINDS, FRONTENDS, ADAPTERS, VADS):
        assert isinstance(registry, Registry) and registry.choices
    assert KINDS.build("waveform", format="wav").format == "wav"
    assert ADAPTERS.build("ctc-shrink", 8, blank=0, reduce="first").reduce == "first"
    assert ADAPTERS.build("linear", 8, blank=0, reduce="first") is not None  # option not taken
    with pytest.raises(VADError, match="--vad 'silero': unknown voice-activity detector"):
        VADS.build("silero")
