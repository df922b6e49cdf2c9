# provisioning: the field technician's tool, `tapcert-provision` (see docs/provisioning.md).
from provisioning.errors import BoardError, CardError, HubRequestError, ProvisionError, StationError

__all__ = ["ProvisionError", "BoardError", "HubRequestError", "CardError", "StationError"]
