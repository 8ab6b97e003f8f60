"""The kernels' disk cache is dropped when any kernel source changes (numba keys a cached kernel on
its own file only, so a kernel inlining another module's function would keep stale code)."""
from numba.core import config

from mcthermo.kernels import _jit


def test_a_changed_source_drops_every_cached_kernel_once(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", "")
    sources = [tmp_path / "lindblad.py", tmp_path / "replay.py"]
    for path in sources:
        path.write_text("# kernel\n")
    cache = tmp_path / "__pycache__"
    cache.mkdir()
    cached = [cache / "replay.weighted-10.py311.nbi", cache / "replay.weighted-10.py311.1.nbc"]
    unrelated = cache / "other.f-1.py311.nbi"
    for path in cached + [unrelated]:
        path.write_bytes(b"x")
    assert _jit.drop_stale_caches(sources)              # no fingerprint yet: dropped
    assert not any(path.exists() for path in cached) and unrelated.exists()
    for path in cached:
        path.write_bytes(b"x")
    assert not _jit.drop_stale_caches(sources)          # same sources: kept
    assert all(path.exists() for path in cached)
    sources[0].write_text("# kernel, edited\n")         # lindblad changed, replay did not
    assert _jit.drop_stale_caches(sources)
    assert not any(path.exists() for path in cached)


def test_the_cache_under_numba_cache_dir_is_guarded_too(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "cache"))
    source = tmp_path / "src" / "lindblad.py"
    source.parent.mkdir()
    source.write_text("# kernel\n")
    directory = _jit._cache_directory(source)
    directory.mkdir(parents=True)
    (directory / "lindblad.f-1.py311.nbi").write_bytes(b"x")
    assert _jit.drop_stale_caches([source])
    assert not (directory / "lindblad.f-1.py311.nbi").exists()
    assert (directory / _jit.STAMP).exists()
