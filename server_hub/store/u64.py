"""u64: unsigned 64-bit values (a batch_id, SPEC §4.1) in signed BIGINT columns.

SQLite's INTEGER and PostgreSQL's BIGINT are signed 64-bit: a batch_id of 2^63 or more made
the insert overflow (issue #18), so nothing was acked or quarantined and every resend printed
a traceback. Both databases store the value as its two's complement (2^64 - 1 is stored as
-1), the same bits, and it is read back unsigned: `U64` does both for Core statements, and
`to_db` for the driver-level bulk writes (store/bulk.py) that bypass column types. The column
type on disk is unchanged (BIGINT), and no stored value changes meaning: every value that was
ever stored is below 2^63, where the two encodings agree, so no data migration is needed.
"""

from __future__ import annotations

import sqlalchemy as sa

_TOP = 1 << 63
_WRAP = 1 << 64


def to_db(value):
    """u64 -> the signed value stored (idempotent: a stored value passes unchanged)."""
    if value is None:
        return None
    return value - _WRAP if value >= _TOP else value


def from_db(value):
    """The stored signed value -> u64."""
    if value is None:
        return None
    return value + _WRAP if value < 0 else value


class U64(sa.types.TypeDecorator):
    impl = sa.BigInteger
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return to_db(value)

    def process_result_value(self, value, dialect):
        return from_db(value)
