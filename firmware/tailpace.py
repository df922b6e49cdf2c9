# tailpace: when to compact the journal tail's metadata ahead of a tap (sans-I/O).
#
# Theory of operation. A tap's payload is one LittleFS commit into the journal's tail folder
# (journal.py). Each commit takes at least one program unit (256 bytes on the rp2 port) of
# the 4 KiB block its metadata pair writes to; the commit that finds the block full compacts
# the pair: a block erase (~45 ms on a W25Q16) and a re-read of the pair's log (~190 ms more
# on the emulated chip). The journal fills the slots lowest in name order first, and those
# sit in one metadata pair, so the number of commits from one compaction of that pair to the
# next is nearly constant. This module learns that period from the commits' durations (a
# compaction is a slow commit) and says when the next commit would likely compact; the
# journal then makes that commit itself while the reader is idle (an identical rewrite of
# the slot the next tap takes, journal.upkeep) and the next taps land on a fresh block.
#
# Durations come in (committed), a decision goes out (due): no clock, no flash. The
# journal imports this module at its first slow commit: a RAM flash never loads it. A commit to
# a slot outside the paced window (a backlog's) or to a numbered tail file may land in
# another pair or in this one: the count is dropped until the next compaction seen in the
# window. A wrong guess costs wear or latency, never a record: an idle commit that does not
# compact used one program unit; a missed one leaves the compaction to a tap, as before.

_TRIES = 2  # idle commits past the learnt period before the period is learnt again


class Pacer:
    # slow_us: a commit at least this slow compacted (journal.py: 25 ms; the erase alone
    # takes ~45 ms, a plain commit 5-8 ms)
    def __init__(self, slow_us, tries=_TRIES):
        self.slow_us = slow_us
        self.tries = tries
        self.since = -1   # commits to the paced pair since its last compaction; -1: unknown
        self.period = 0   # commits from one compaction to the next (that one included); 0: unknown
        self.ahead = 0    # idle commits that compacted (a tap spared)
        self.missed = 0   # idle commits that did not (one program unit spent)
        self.on_tap = 0   # compactions a tap paid for

    def committed(self, took_us, paced=True, idle=False):
        # one tail commit took took_us; paced: to a slot of the paced window; idle: made by
        # upkeep, not by a tap. -> True if it compacted
        slow = took_us >= self.slow_us
        if not paced:
            self.since = -1  # this pair's or another's: the count is lost
            return slow
        if slow:
            if self.since >= 0:
                self.period = self.since + 1
            self.since = 0
            if idle:
                self.ahead += 1
            else:
                self.on_tap += 1
            return True
        if idle:
            self.missed += 1
        if self.since >= 0:
            self.since += 1
            if self.period and self.since >= self.period - 1 + self.tries:
                self.period = 0  # the compaction did not come: learn the period again
        return False

    def due(self):
        # -> True when the next paced commit would likely compact: make it while idle
        p = self.period
        return p > 0 and p - 1 <= self.since < p - 1 + self.tries
