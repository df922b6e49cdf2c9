"""agent/room.py: free space on the queue's disk and the words for low and full."""

from agent import room


def test_low_disk_names_the_free_megabytes_and_the_directory(tmp_path):
    path = tmp_path / "queue.db"
    free = room.disk_free(path)
    assert isinstance(free, int) and free > 0
    assert room.low_disk(path, 100, 200 * 1024 * 1024) is None
    assert room.low_disk(path, 100, None) is None                  # unknown: no alarm
    assert room.low_disk(path, 100, 42 * 1024 * 1024 + 5) == f"only 42 MB free on {tmp_path}"
    text = room.queue_full(1234, path)
    assert "1234 records wait" in text and str(tmp_path) in text and "queue.max_size_mb" in text


def test_disk_free_of_a_missing_directory_is_none(tmp_path):
    assert room.disk_free(tmp_path / "gone" / "deeper" / "queue.db") is None
