"""Test-only: slow down one checkpoint copy of a fairseq-train run so a test can SIGKILL it
mid-write. Active only when ``SALIGN_TEST_SLOW_COPY`` names a marker file (put this directory on
PYTHONPATH): the Nth copy to ``checkpoint_last.pt`` (``SALIGN_TEST_SLOW_COPY_NTH``, default 2)
writes half the bytes, flushes, creates the marker and sleeps."""
import os

if os.environ.get("SALIGN_TEST_SLOW_COPY"):
    import shutil
    import time

    _copyfile, _seen = shutil.copyfile, []

    def _slow_copyfile(src, dst, *args, **kwargs):
        target = os.path.basename(str(dst))
        if "checkpoint_last.pt" in target:
            _seen.append(target)
            if len(_seen) == int(os.environ.get("SALIGN_TEST_SLOW_COPY_NTH", "2")):
                with open(src, "rb") as f, open(dst, "wb") as g:
                    data = f.read()
                    g.write(data[: len(data) // 2])
                    g.flush()
                    os.fsync(g.fileno())
                    open(os.environ["SALIGN_TEST_SLOW_COPY"], "w").close()
                    time.sleep(120)
                    g.write(data[len(data) // 2:])
                return dst
        return _copyfile(src, dst, *args, **kwargs)

    shutil.copyfile = _slow_copyfile
