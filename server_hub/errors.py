"""The hub's exception tree.

    HubError                    base: a problem a person can act on; str() says what to do
    +-- ConfigError             the config file, an environment override or a flag is wrong
    +-- StoreError              the database cannot do what was asked
    |   +-- SchemaError         the database schema is newer than this hub, or not initialised
    +-- RegistryError           a registry request is invalid (unknown station, bad key, ...)
    |   +-- NotFound            the named station/reader/learner/card/activity does not exist
    |   +-- Conflict            it exists already, or its state forbids the change
    |   +-- InvalidValue        a value the database cannot hold or compare (a NUL character)
    +-- AuthError               a missing, unknown or revoked API token, or the wrong role
    +-- DefinitionError         an activity's schedule or credit standard is invalid

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


class DefinitionError(RegistryError):
    pass


class InvalidValue(RegistryError):
    """A value the database refuses as data (PostgreSQL: a NUL character in text, a number
    out of its column's range): the request is wrong, not the database."""
