"""identity: who may connect — the fleet CA, station certificates, the broker's mTLS listener,
ACL and CRL, and offline reader enrollment bundles.

    pki.py          FleetCA: keys, certificates, CRL (cryptography)
    acl.py          Mosquitto ACL and password-less user list for stations and the hub
    cadir.py        a CA directory on the hub machine: broker files, revoke, CRL, local signing
    enrollment.py   the hub's config and registry around them; import offline reader bundles
    bundlekeys.py   the MAC keys of offline bundles, in a secret file beside the CA
    apicert.py      the HTTPS certificate of the hub's API

The contracts with provisioning (the station's key and CSR, the offline bundle format) are in
protocol/host/.

May import: protocol/, store/, server_hub.config/errors, registry/identitychange.py (who may
re-issue a station certificate; its audit row and alarm).
"""
