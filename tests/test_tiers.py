"""The test tiers: `make test-fast` runs `-m unit`, which must hold no test that starts a process
(fairseq's tools, DDP ranks, spawned workers) directly or through a fixture."""


def test_tiers_are_assigned_at_collection(request):
    from conftest import _starts_process

    import test_cli_e2e
    import test_long_audio

    assert request.node.get_closest_marker("unit") is not None  # this test starts nothing
    assert _starts_process(test_cli_e2e.test_help_lists_the_plugin_options)
    assert not _starts_process(test_long_audio.test_subtitle_text_survives_both_formats)


def test_fixture_that_starts_a_process_makes_its_tests_e2e():
    import subprocess
    import sys

    from conftest import TESTS

    def collected(tier):
        out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", tier,
                              "-p", "no:cacheprovider", str(TESTS / "test_model_dir.py")],
                             capture_output=True, text=True, cwd=TESTS.parent, timeout=120).stdout
        return {line.split("::", 1)[1] for line in out.splitlines() if "::" in line}

    e2e, unit = collected("e2e"), collected("unit")
    # `exported` runs salign-export in a subprocess, from st_checkpoint's fairseq-train
    assert "test_transcript_and_translation_from_one_encoder_pass" in e2e
    assert "test_arrays_at_any_rate_and_layout_become_16k_mono" in unit and not e2e & unit
