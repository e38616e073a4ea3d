"""Atomic writes: a reader sees the old file or the whole new one, and a failed write leaves nothing behind."""

import pytest

from lightning_gans.atomic import atomic_directory, atomic_path


def test_a_completed_write_replaces_the_file(tmp_path):
    target = tmp_path / "deep" / "record.json"
    with atomic_path(target) as temporary:
        assert temporary.parent == target.parent and temporary != target
        temporary.write_text("new")
        assert not target.exists()  # nothing visible until the block ends
    assert target.read_text() == "new"
    assert [path.name for path in target.parent.iterdir()] == ["record.json"]


def test_a_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "stats.npz"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_path(target, suffix=".npz") as temporary:
        assert temporary.suffix == ".npz"
        temporary.write_text("half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [path.name for path in tmp_path.iterdir()] == ["stats.npz"]


def test_a_directory_appears_whole_or_not_at_all(tmp_path):
    target = tmp_path / "samples"
    with pytest.raises(KeyboardInterrupt), atomic_directory(target) as folder:
        (folder / "000000.png").write_text("half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []
    target.mkdir()
    (target / "old.png").write_text("old")
    with atomic_directory(target) as folder:
        (folder / "000000.png").write_text("new")
        assert (target / "old.png").exists()  # the old contents stay until the new ones are complete
    assert [path.name for path in tmp_path.iterdir()] == ["samples"]
    assert [path.name for path in target.iterdir()] == ["000000.png"]
