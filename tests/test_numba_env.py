"""fastrec._numba_env: a read-only install still compiles, into a temporary folder."""

from __future__ import annotations

import sys

from fastrec import _numba_env


def test_read_only_install_caches_in_a_temporary_folder(monkeypatch, tmp_path):
    # Simulated: the package's __pycache__ and the user's cache report unwritable (tests run as
    # root here, where chmod cannot make a folder read-only).
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(_numba_env.tempfile, "tempdir", str(tmp_path))
    real = _numba_env._writable
    monkeypatch.setattr(
        _numba_env, "_writable", lambda path: str(tmp_path) in str(path) and real(path)
    )
    numba = sys.modules["numba"]
    monkeypatch.setattr(numba.config, "CACHE_DIR", numba.config.CACHE_DIR)
    chosen = _numba_env.configure_cache_dir()
    assert chosen == str(tmp_path / _numba_env.fallback_cache_dir().name)
    assert numba.config.CACHE_DIR == chosen
    assert (tmp_path / _numba_env.fallback_cache_dir().name).is_dir()


def test_writable_install_and_user_setting_are_left_alone(monkeypatch, tmp_path):
    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    monkeypatch.setattr(_numba_env, "_writable", lambda path: True)
    assert _numba_env.configure_cache_dir() is None
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(_numba_env, "_writable", lambda path: False)
    assert _numba_env.configure_cache_dir() is None


def test_writable_probe(tmp_path):
    assert _numba_env._writable(tmp_path / "new" / "folder")
    (tmp_path / "file").write_text("x")
    assert not _numba_env._writable(tmp_path / "file" / "below")  # a file is in the way
