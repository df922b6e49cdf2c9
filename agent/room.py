"""Room for the queue on the Pi's disk: how much is free, and what to tell the technician when
it runs low or out. (The queue's own size cap is queue.max_size_mb, enforced by the store.)"""

from __future__ import annotations

import os
import shutil


def queue_dir(queue_path) -> str:
    return os.path.dirname(os.path.abspath(queue_path)) or "."


def disk_free(queue_path):
    """Free bytes on the queue's file system, or None if it cannot be read."""
    try:
        return shutil.disk_usage(queue_dir(queue_path)).free
    except OSError:
        return None


def low_disk(queue_path, warn_free_mb, free):
    """The problem text when under `warn_free_mb` MB are free, else None."""
    if free is None or free >= warn_free_mb * 1024 * 1024:
        return None
    return "only {} MB free on {}".format(free // (1024 * 1024), queue_dir(queue_path))


def queue_full(waiting, queue_path):
    return ("queue is full: {} records wait for the hub and new taps stay in the readers until "
            "space is freed (free disk space on {} or raise queue.max_size_mb)".format(
                waiting, queue_dir(queue_path)))
