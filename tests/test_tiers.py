"""The test tiers: `make test-fast` runs `-m unit`, which must hold no test that starts a process
(fairseq's tools, DDP ranks, spawned workers) directly or through a fixture."""


def test_tiers_are_assigned_at_collection(request):
    from conftest import _starts_process

    import test_cli_e2e
    import test_long_audio

    assert request.node.get_closest_marker("unit") is not None  # this test starts nothing
    assert _starts_process(test_cli_e2e.test_help_lists_the_plugin_options)
    assert not _starts_process(test_long_audio.test_subtitle_text_survives_both_formats)


# pytest in a new process (its own conftest, collection only) reporting every item's tiers
_COLLECT = """
import json, sys
import pytest

class Tiers:
    def __init__(self):
        self.items = []

    def pytest_collection_finish(self, session):
        for item in session.items:
            names = {m.name for m in item.iter_markers()} & {"unit", "e2e", "research"}
            self.items.append([item.nodeid, sorted(names)])

tiers = Tiers()
status = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[1:]],
                     plugins=[tiers])
print("TIERS", json.dumps(tiers.items))
sys.exit(status)
"""


def test_fixture_that_starts_a_process_makes_its_tests_e2e():
    """One collection (one process) gives both tiers: what `-m e2e` and `-m unit` select."""
    import json
    import subprocess
    import sys

    from conftest import TESTS

    out = subprocess.run([sys.executable, "-c", _COLLECT, str(TESTS / "test_model_dir.py")],
                         capture_output=True, text=True, cwd=TESTS.parent, timeout=120)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (line,) = [line for line in out.stdout.splitlines() if line.startswith("TIERS ")]
    items = json.loads(line[len("TIERS "):])
    assert items and all(len(tiers) == 1 for _, tiers in items), items  # exactly one tier each

    def collected(tier):
        return {nodeid.split("::", 1)[1] for nodeid, tiers in items if tier in tiers}

    e2e, unit = collected("e2e"), collected("unit")
    # `exported` runs salign-export in a subprocess, from st_checkpoint's fairseq-train
    assert "test_transcript_and_translation_from_one_encoder_pass" in e2e
    assert "test_arrays_at_any_rate_and_layout_become_16k_mono" in unit and not e2e & unit
