"""cli: `tapcert-hub` — one dispatch table (dispatch.py) and one module of shared helpers
(common.py); every other module is a group of `do_<verb>` handlers with an `install()` that
adds its parsers. `python -m server_hub.cli` runs it.

May import: every room of the hub. No other room imports cli/.
"""
