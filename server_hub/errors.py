"""The hub's exception tree.

    HubError                    base: a problem a person can act on; str() says what to do
    +-- ConfigError             the config file, an environment override or a flag is wrong
    +-- StoreError              the database cannot do what was asked
    |   +-- SchemaError         the database schema is newer than this hub, or not initialised
    +-- RegistryError           a registry request is invalid (unknown station, bad key, ...)
    |   +-- NotFound            the named station/reader/learner/card/activity does not exist
    |   +-- Conflict            it exists already, or its state forbids the change
    |   +-- InvalidValue        a value the database cannot hold or compare (a NUL character)
    |   +-- DefinitionError     an activity's schedule or credit standard is invalid
    |   +-- FleetError          a fleet-update request that cannot be done (fleet/store.py)
    |       +-- BundleRejected  an uploaded firmware bundle failed verification
    +-- AuthError               a missing, unknown or revoked API token, or the wrong role
    |   +-- Forbidden           the caller's role may not do this (checked under the routes)
    |   +-- WrongPIN            a learner's account number or PIN is wrong (creditbank/learnerauth.py)
    |   +-- Locked              too many wrong PINs: the account or the network waits; .until
    |   +-- NotAllowed          this staff role may not set or reset learners' PINs
    +-- ExchangeError           a rule of 兑换 was broken: rate, price or idempotency key
    |   +-- Insufficient        not enough points left for the service (nothing goes negative)
    +-- TranscriptInvalid       a transcript does not verify; str() says which part
    +-- PKIError                a fleet-CA operation cannot be done (identity/pki.py)
    +-- WebhookError            an alert webhook cannot be delivered (dashboard/webhook.py)
    +-- Limited                 too many account applications: from one network today, or
                                waiting overall (creditbank/applications.py); try later

Signals, not errors: these never reach a person; the caller of the raising module turns them
into an outcome, so they stand outside the tree on purpose (private classes, _Name, too):

    BatchRejected   core/ingest.py: a whole batch refused; becomes a SPEC §4.3 status reply
    GroupConflict   ingest/groupcommit.py: the database broke a lock cycle; the group retries
    BodyTooLarge    api/bodylimit.py: a request body passed its limit; becomes HTTP 413

The classes defined elsewhere live beside the only code that raises them; every one derives
from HubError, so a command line or API boundary that catches HubError catches them all.

Library errors (sqlalchemy, paho, cryptography) are translated at the adapter boundary:
``raise StoreError(...) from exc``. Errors about wire data from stations never raise out of
ingest: they become per-record outcomes and quarantine rows (protocol/SPEC.md §4.3).
"""


class HubError(Exception):
    pass


class ConfigError(HubError):
    pass


class StoreError(HubError):
    pass


class SchemaError(StoreError):
    pass


class RegistryError(HubError):
    pass


class NotFound(RegistryError):
    pass


class Conflict(RegistryError):
    pass


class AuthError(HubError):
    pass


class Forbidden(AuthError):
    """The caller is known but their role may not do this (registry/identitychange.py);
    HTTP 403."""


class DefinitionError(RegistryError):
    pass


class ExchangeError(HubError):
    """A rule of 兑换 was broken (creditbank/exchange.py); the message says what to do."""


class Insufficient(ExchangeError):
    pass


class TranscriptInvalid(HubError):
    """The transcript does not verify (creditbank/transcript.py); the message says which part."""


class InvalidValue(RegistryError):
    """A value the database refuses as data (PostgreSQL: a NUL character in text, a number
    out of its column's range): the request is wrong, not the database."""
