# keys: the reader's Ed25519 identity. The seed is made on the reader from os.urandom and
# never leaves it; only the public key and the reader id derived from it are exposed.
#
# For the provisioning tool, over `mpremote exec`:
#   import keys; keys.generate()      prints the new public key (64 hex digits)
#   import keys; keys.info()          prints {"pk": hex, "rid": hex} ({"pk": null} if none)
# Re-keying (keys.generate(force=True)) makes a new reader id whose seq starts at 1; it is
# refused while the journal holds records: sync them, then journal.wipe().
import json
import os

import persist
from protocol import record as rec

SEED_PATH = "/data/seed.bin"


class KeysError(Exception):
    pass


def load_seed(root=""):
    path = root + SEED_PATH
    seed = persist.read_blob(path)
    if seed is None:
        if persist.exists(path):
            raise KeysError("key file {} is damaged; the reader must be re-keyed".format(path))
        return None
    if len(seed) != 32:
        raise KeysError("key file {} holds {} bytes, not 32".format(path, len(seed)))
    return seed


def signer(root="", table="auto"):
    """-> protocol.ed25519.Signer for this reader's key, or None before provisioning."""
    seed = load_seed(root)
    if seed is None:
        return None
    _table_on_flash(root, table)
    from protocol.ed25519 import Signer
    return Signer(seed)


def _table_on_flash(root, table="auto"):
    # On a small heap the signer reads its 48 KiB comb table from flash (signtable.py),
    # also under `mpremote exec "import keys; ..."` where the app has not installed it:
    # imported, the table would be copied into RAM (MemoryError in a 128 KiB heap).
    import signtable
    if signtable.wanted(table):
        signtable.install(root + signtable.PATH)


def generate(force=False, root="", journal_dir="/data/journal", quiet=False):
    """Make the reader's key on first provisioning; prints and returns the public key."""
    if persist.exists(root + SEED_PATH):
        if not force:
            s = signer(root)
            raise KeysError("this reader already has a key (reader id {}); re-keying makes "
                            "a new reader id: use keys.generate(force=True)".format(
                                rec.hexlify(rec.reader_id_from_public_key(s.public_key))))
        from journal import holds_records
        if holds_records(root + journal_dir):
            raise KeysError("the journal still holds records of the old key; sync them to the "
                            "hub, then `import journal; journal.wipe()` and re-key")
    seed = os.urandom(32)
    persist.make_dirs(root + SEED_PATH.rsplit("/", 1)[0])
    persist.write_blob(root + SEED_PATH, seed)
    _table_on_flash(root)
    from protocol.ed25519 import public_key
    pk = public_key(seed)
    if not quiet:
        print(rec.hexlify(pk))
    return pk


def info(root=""):
    """Prints and returns {"pk": hex, "rid": hex} (pk None before provisioning)."""
    s = signer(root)
    if s is None:
        out = {"pk": None, "rid": None}
    else:
        out = {"pk": rec.hexlify(s.public_key),
               "rid": rec.hexlify(rec.reader_id_from_public_key(s.public_key))}
    print(json.dumps(out))
    return out
