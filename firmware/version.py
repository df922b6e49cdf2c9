# version: the firmware version reported in every health frame.
FW_VERSION = "0.1.0"
