"""Loads entries straight into a stopped DC's sam.ldb (run by the system Python that has
the samba bindings, so only the standard library at the top)."""

from __future__ import annotations

import json
import os
import sys

# Offline-loaded users and groups get RIDs from here up, far above the pools Samba's
# RID manager hands out for objects added later over LDAP.
OFFLINE_RID_BASE = 100000


def _offline_load(smb_conf: str, data_path: str) -> int:
    from samba.auth import system_session
    from samba.dcerpc import security
    from samba.ndr import ndr_pack
    from samba.param import LoadParm
    from samba.samdb import SamDB

    lp = LoadParm()
    lp.load(smb_conf)
    private_dir = lp.get("private dir")
    # batch_mode skips the per-operation nested transaction: any failure aborts the
    # whole load, and adds no longer copy every touched index list.
    samdb = SamDB(
        url=os.path.join(private_dir, "sam.ldb"),
        lp=lp,
        session_info=system_session(),
        options=["batch_mode:1"],
    )
    with open(data_path, encoding="utf-8") as fh:
        payload = json.load(fh)
    domain_sid = samdb.get_domain_sid()
    rid = OFFLINE_RID_BASE
    samdb.transaction_start()
    try:
        for item in payload:
            message = {"dn": item["dn"]}
            message.update(item["attrs"])
            classes = {c.lower() for c in message.get("objectClass", [])}
            if "objectSid" not in message and classes & {"user", "group"}:
                # Handing out RIDs from the RID Set costs a lookup and a modify of the
                # RID Set per object, about a third of the load time; as the system
                # user we may name the SID ourselves.
                message["objectSid"] = ndr_pack(security.dom_sid(f"{domain_sid}-{rid}"))
                rid += 1
            samdb.add(message)
    except BaseException:
        samdb.transaction_cancel()
        raise
    samdb.transaction_commit()
    return len(payload)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "load":
        print(_offline_load(sys.argv[2], sys.argv[3]))
    else:
        sys.exit("usage: offline_load.py load SMB_CONF DATA_JSON")
