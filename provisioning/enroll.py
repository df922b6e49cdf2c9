"""enroll: give a reader its key (made on the reader) and its station, and register it.

Theory of operation. The firmware's keys module makes the Ed25519 seed from the reader's own
os.urandom and stores it on flash; only the public key and the reader id derived from it
(SHA-256(pk)[0:8], SPEC §1) cross the wire. Order, so a failure at any step leaves nothing
the next run cannot finish:

1. Hub mode: the station must exist at the hub (this also proves the URL and token work)
   before the reader is touched. Bundle mode: the bundle file must not exist yet.
2. Read the reader's key (`keys.info()`). A key that the hub already has is a duplicate
   enrollment: refused, the fix is `--rekey`. A key the hub does not know (an earlier run
   stopped half-way) is registered as it is.
3. `--rekey`: refused while the reader holds records the hub has not committed (they are
   signed by the old key and the hub revokes it). The old reader id is written into the
   reader's config as `previous_rid` first, then the journal (hub-committed records only) is
   wiped and `keys.generate(force=True)` makes the new key.
4. Register (POST /api/v1/readers) and revoke `previous_rid` at the hub — or write the
   offline bundle, whose proof the reader signs itself (protocol/host/enrolbundle.py).
5. Write /config.json (station, label, test_mode, language if given; other keys kept)
   atomically, restart the firmware, and check its health frame carries the new reader id
   and station.
"""

from __future__ import annotations

import hashlib
import json
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from protocol.host import enrolbundle as bundlefile
from provisioning.board import Board, BoardRaised
from provisioning.errors import BoardError, HubRequestError, ProvisionError
from provisioning.files import write_all
from provisioning.flash import JOURNAL_COUNT, MANIFEST, check_shadowing, count_at_risk
from provisioning.hubclient import Conflict, NotFound
from provisioning.station import check_station_id

CONFIG = "/config.json"

_KEYS_INFO = "import keys\nkeys.info()"
def reader_id(public_key_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_key_hex)).hexdigest()[:16]


def _modules(board) -> list:
    manifest = board.read_file(MANIFEST)
    try:
        return list(json.loads(manifest).get("files", {})) if manifest else []
    except (ValueError, AttributeError):
        return []


def _keys_info(board) -> dict:
    try:
        info = board.eval_json(_KEYS_INFO)
    except BoardRaised as exc:
        check_shadowing(board, _modules(board))
        raise BoardError("the reader has no tapcert firmware ({})".format(exc.message),
                         "flash it first: tapcert-provision flash --port {}".format(board.port)) \
            from exc
    if not isinstance(info, dict) or "pk" not in info:
        raise BoardError("the reader's keys module gave {!r}".format(info),
                         "flash the firmware again")
    return info


def _read_config(board) -> dict:
    raw = board.read_file(CONFIG)
    if raw is None:
        return {}
    try:
        config = json.loads(raw)
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def _write_config(board, config: dict) -> None:
    data = json.dumps(config, sort_keys=True).encode()
    board.write_file(CONFIG, data)
    if board.read_file(CONFIG) != data:
        raise BoardError("the reader's config did not read back as written",
                         "enroll again; if it repeats, the reader's flash may be failing")


def _unsynced(board, health) -> int | None:
    at_risk = count_at_risk(health)
    if at_risk is not None:
        return at_risk
    return board.eval_json(JOURNAL_COUNT)


def _sign_on_reader(board, message: bytes, public_key_hex: str) -> bytes:
    out = board.eval_json(
        "import keys, binascii, json\n"
        "s = keys.signer()\n"
        "print(json.dumps(binascii.hexlify(s.sign(binascii.unhexlify({!r}))).decode()))"
        .format(message.hex()), timeout=120)
    proof = bytes.fromhex(out)
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex)).verify(proof, message)
    except (InvalidSignature, ValueError) as exc:
        raise BoardError("the reader's signature on the bundle does not verify",
                         "flash the firmware again, then enroll") from exc
    return proof


def _hub_reader(hub, rid: str):
    try:
        return hub.request("GET", "/api/v1/readers/{}".format(rid))
    except NotFound:
        return None


def enroll(port: str, station: str, report, *, hub=None, label: str = "", bundle=None,
           test_mode: bool = False, rekey: bool = False, token: str | None = None,
           language: str | None = None, confirm_timeout: float = 20.0,
           board_factory=Board) -> dict:
    check_station_id(station)
    if hub is not None:
        try:
            hub.request("GET", "/api/v1/stations/{}".format(station))
        except NotFound:
            raise HubRequestError("station {} is not registered at the hub".format(station),
                           "ask the hub operator to add it (tapcert-hub station add {})".format(
                               station)) from None
    if bundle is not None:
        from pathlib import Path
        if Path(bundle).exists():
            raise ProvisionError("{} exists already".format(bundle),
                                 "give a new file name for the bundle")

    with board_factory(port) as board:
        report.step("checking the reader on {} ...".format(port))
        health = board.health(timeout=2.5)
        board.enter()
        info = _keys_info(board)
        config = _read_config(board)
        old_pk = info.get("pk")
        old_rid = reader_id(old_pk) if old_pk else None
        previous = config.get("previous_rid")
        label = label or config.get("label") or ""

        if old_pk and not rekey:
            known = _hub_reader(hub, old_rid) if hub is not None else None
            if known is not None:
                raise HubRequestError("reader {} is already enrolled at station {} ({})".format(
                    old_rid, known.get("station_id"), known.get("status")),
                    "nothing to do if that is right; to give it a new key and station run "
                    "enroll --rekey")
            pk, rid = old_pk, old_rid
            report.step("reader {} has a key the hub does not know yet: enrolling it".format(rid)
                        if hub is not None else "reader {} has a key".format(rid))
        else:
            if old_pk:
                unsynced = _unsynced(board, health)
                if unsynced is None or unsynced > 0:
                    raise ProvisionError(
                        "reader {} holds {} records the hub has not committed".format(
                            old_rid, "an unknown number of" if unsynced is None else unsynced),
                        "let the station sync first (they are signed by the old key), then "
                        "re-key")
                previous = old_rid
                _write_config(board, dict(config, previous_rid=old_rid))
                board.exec("import config, journal\ncfg, _ = config.load()\n"
                           "journal.wipe(cfg['journal_dir'])")
                report.step("re-keying reader {} on the reader ...".format(old_rid))
            else:
                report.step("generating the reader's key on the reader ...")
            try:
                out = board.exec("import config, keys\ncfg, _ = config.load()\n"
                                 "keys.generate(force={}, journal_dir=cfg['journal_dir'])".format(
                                     bool(old_pk)), timeout=120)
            except BoardRaised as exc:
                raise BoardError("the reader refused to make a key: {}".format(exc.message),
                                 "read the message; sync or flash, then enroll again") from exc
            info = _keys_info(board)
            pk = info.get("pk") or ""
            if not pk or pk not in out:
                raise BoardError("the reader's new key did not read back",
                                 "enroll again")
            rid = reader_id(pk)
        if info.get("rid") != rid:
            raise BoardError("the reader reports id {} for a key whose id is {}".format(
                info.get("rid"), rid), "flash the firmware again, then enroll")

        check_shadowing(board, _modules(board))
        revoked = None
        if hub is not None:
            try:
                # a re-key names the reader it replaces: the hub revokes it in the same
                # transaction, audited and alarmed (a technician may not revoke alone)
                answer = hub.request("POST", "/api/v1/readers", json={
                    "public_key": pk, "station_id": station, "label": label,
                    "replaces": previous if previous and previous != rid else None})
            except Conflict as exc:
                raise HubRequestError("reader {} is already enrolled ({})".format(rid, exc.message),
                               "to give it a new key run enroll --rekey") from None
            if (answer or {}).get("reader_id") != rid:
                raise HubRequestError("the hub registered reader id {}, expected {}".format(
                    (answer or {}).get("reader_id"), rid), "tell the hub operator")
            revoked = (answer or {}).get("replaced")
        else:
            statement = {"public_key": pk, "reader_id": rid, "station": station, "label": label,
                         "test_mode": bool(test_mode), "replaces": previous if previous != rid
                         else None, "fw": (health or {}).get("fw"), "created": int(time.time())}
            proof = _sign_on_reader(board, bundlefile.signed_bytes(statement), pk)
            document = bundlefile.make(statement, proof, token)
            write_all({bundle: (json.dumps(document, indent=1, sort_keys=True) + "\n", 0o644)})
            revoked = statement["replaces"]

        new_config = dict(config, station=station, label=label, test_mode=bool(test_mode))
        new_config.pop("previous_rid", None)
        if language is not None:  # display text, "zh" or "en" (firmware/config.py)
            new_config["language"] = language
        _write_config(board, new_config)
        report.step("restarting the firmware ...")
        board.run_main()
        answer = board.health(timeout=confirm_timeout)
    if answer is None:
        raise BoardError("the firmware did not answer after enrolling",
                         "run `tapcert-provision doctor --port {}`".format(port))
    if answer.get("rid") != rid or answer.get("station") not in (None, station):
        raise BoardError("the reader answers as {} at station {}, expected {} at {}".format(
            answer.get("rid"), answer.get("station"), rid, station),
            "run `tapcert-provision doctor --port {}`".format(port))
    return {"rid": rid, "pk": pk, "label": label, "station": station, "revoked": revoked,
            "test_mode": bool(test_mode), "bundle": bundle}
