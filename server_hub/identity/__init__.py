"""identity: who may connect — the fleet CA, station certificates, the broker's mTLS listener,
ACL and CRL, and offline reader enrollment bundles.

    pki.py          FleetCA: keys, certificates, CRL (cryptography)
    acl.py          Mosquitto ACL and password-less user list for stations and the hub
    enrollment.py   sign a station CSR, revoke a station, broker-config, import reader bundles

May import: store/, server_hub.config/errors, registry/identitychange.py (who may re-issue a
station certificate; its audit row and alarm).
"""
