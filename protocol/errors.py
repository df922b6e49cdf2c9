# errors: the protocol's exception tree.
#
#   ProtocolError                 base of everything raised by protocol/
#   +-- LocalProtocolError        we were asked to encode something invalid (our bug)
#   +-- RemoteProtocolError       the bytes we were given are not valid (the peer's fault)
#       +-- SignatureError        a signature or chain link does not verify
#
# Every error carries `reason`: a short stable token (e.g. "truncated", "bad_crc")
# that callers count and quarantine by, and a human message in args[0].


class ProtocolError(Exception):
    reason = "protocol_error"

    def __init__(self, message, reason=None):
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class LocalProtocolError(ProtocolError):
    reason = "invalid_argument"


class RemoteProtocolError(ProtocolError):
    reason = "malformed"


class SignatureError(RemoteProtocolError):
    reason = "bad_signature"
