# provisioning: the field technician's tool, `tapcert-provision` (see docs/provisioning.md).
from provisioning.errors import BoardError, CardError, HubError, ProvisionError, StationError

__all__ = ["ProvisionError", "BoardError", "HubError", "CardError", "StationError"]
