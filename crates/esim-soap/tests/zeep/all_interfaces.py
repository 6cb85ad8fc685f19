"""Loads the served WSDL of every interface with python zeep (strict) and calls functions whose
messages exercise nested types, choices and repeated elements.

Usage: all_interfaces.py BASE_URL TOKEN REQUESTER EID ICCID ICCID2
Prints:
    WSDL <interface> <operation count>
    EIS <Eid> <ProfileInfo count> <first Iccid> <first pol2 Rule Action> <Isd-r Keyset count>
    AUDIT <Status>
"""
import sys

import requests
from zeep import Client, Settings
from zeep.transports import Transport


def main():
    base, token, requester, eid, iccid, iccid2 = sys.argv[1:7]
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    clients = {}
    for i in ["ES1", "ES2", "ES3", "ES4", "ES7"]:
        c = Client(
            base + "/soap/" + i + "?wsdl",
            transport=Transport(session=session, timeout=30),
            settings=Settings(strict=True),
        )
        ops = []
        for service in c.wsdl.services.values():
            for port in service.ports.values():
                ops.extend(port.binding._operations.keys())
        print("WSDL", i, len(ops))
        clients[i] = c

    r = clients["ES2"].service.GetEIS(
        FunctionCallIdentifier="all-1",
        FunctionRequesterIdentifier=requester,
        Eid=eid,
        **{"Smsr-id": "SMSR-A"},
    )
    eis = r.Eis
    first = eis.ProfileInfo[0]
    print(
        "EIS",
        eis.EumSignedInfo.Eid,
        len(eis.ProfileInfo),
        first.Iccid,
        first.pol2.Rule[0].Action,
        len(eis["Isd-r"].Keyset),
    )

    r = clients["ES3"].service.AuditEIS(
        FunctionCallIdentifier="all-2",
        FunctionRequesterIdentifier=requester,
        Eid=eid,
        Iccid=[iccid, iccid2],
    )
    print("AUDIT", r.FunctionExecutionStatus.Status)


if __name__ == "__main__":
    main()
