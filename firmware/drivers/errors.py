# errors: what the reader's hardware drivers raise.
#
#   DriverError        base; `reason` is a short stable token to count by,
#   |                  args[0] a sentence for the person at the bench
#   +-- BusError       the chip did not answer on its bus (wiring, power, address)
#   +-- FrameError     the chip answered, but not with a valid frame or response
#   +-- CardError      a card answered, but its answer failed a check (BCC, CRC_A,
#                      parity, cascade): usually a card moved out of the field mid-read
#
# read_uid() returns None when no card is there; it raises only these errors,
# never IndexError/KeyError on the chip's bytes.


class DriverError(Exception):
    reason = "driver_error"

    def __init__(self, message, reason=None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class BusError(DriverError):
    reason = "no_answer"


class FrameError(DriverError):
    reason = "bad_frame"


class CardError(DriverError):
    reason = "bad_card_answer"


class BoardConfigError(ValueError):
    # a pin map or board setting that cannot work; raised at start-up, never later
    pass
