# feedback: what staff and learners see and hear for each outcome of a tap.
#
# Events (the board plays a pattern for each, docs/firmware.md has the table):
#   recorded   "Recorded #12"                      the tap is safely in the journal
#   warning    "Recorded #12 - storage 85% full"   recorded, and the journal passed 80 %
#   duplicate  "Already recorded"                  same card within the debounce window
#   blocked    "Card blocked - see staff"          card on the blocked list, no record
#   full       "Storage full - call technician"    journal full, no record
#   error      "Not recorded - tap again" etc.     the tap could not be recorded
#   two_cards  "One card at a time"                two cards in the field at once, no record
#   random_uid "Phone or random-UID card not accepted"  a random 4-byte UID (08 ..), no record
#   boot       "tapcert 0.1.0 ready"               the reader started


class Feedback:
    def __init__(self, board_feedback):
        self._board = board_feedback
        # a board that also logs the outcome with its seq (the unix board's events file)
        self._detail = getattr(board_feedback, "show_detail", None)
        self.failures = 0

    def give(self, event, seq=None, text=None, pct=None):
        """Play the event; -> {"event", "seq", "text"} (the card field's answer)."""
        if text is None:
            text = _text(event, seq, pct)
        result = {"event": event, "seq": seq, "text": text}
        try:
            if self._detail is not None:
                self._detail(result)
            else:
                self._board.show(event, text)
        except Exception:  # a broken LED or display must not lose the tap
            self.failures += 1
        return result


def _text(event, seq, pct):
    if event == "recorded":
        return "Recorded #{}".format(seq)
    if event == "warning":
        return "Recorded #{} - storage {}% full".format(seq, pct)
    if event == "duplicate":
        return "Already recorded"
    if event == "blocked":
        return "Card blocked - see staff"
    if event == "full":
        return "Storage full - call technician"
    if event == "error":
        return "Not recorded - tap again"
    if event == "two_cards":
        return "One card at a time"
    if event == "random_uid":
        return "Phone or random-UID card not accepted"
    return event
