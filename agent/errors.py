"""The agent's exception tree.

    AgentError                  base: a problem a person can act on; str() says what to do
    +-- ConfigError             the config file or an environment override is wrong
    +-- StoreError              the SQLite queue cannot do what was asked
        +-- StoreFull           the disk (or queue.max_size_mb) is full: nothing was written
        +-- StoreCorrupt        the database file is damaged; the agent moves it aside
    +-- AckMismatch             a hub ack does not fit the batch it names (logged, never fatal)

Library errors (sqlite3, serial, paho) are translated at the adapter boundary:
``raise StoreFull(...) from exc``.
"""


class AgentError(Exception):
    pass


class ConfigError(AgentError):
    pass


class StoreError(AgentError):
    pass


class StoreFull(StoreError):
    pass


class StoreCorrupt(StoreError):
    pass


class AckMismatch(AgentError):
    pass
