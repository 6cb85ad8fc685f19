"""Interoperability check of the esim-soap server with an independent SOAP stack (python zeep).

Usage: es2_client.py BASE_URL TOKEN REQUESTER EID ICCID
Loads the served WSDL of ES2, calls GetEIS and DownloadProfile with a Bearer token (and the
WS-Addressing headers of zeep's WsAddressingPlugin), and prints one line per result:
    RESULT <function> <Status> [<Subject> <Reason> | <Iccid>]
    FAULT <code> <reason>   (the GetEIS call repeated with a wrong token)
Exits non-zero on any error.
"""
import sys

import requests
from zeep import Client, Settings
from zeep.exceptions import Fault
from zeep.transports import Transport
from zeep.wsa import WsAddressingPlugin


def main():
    base, token, requester, eid, iccid = sys.argv[1:6]
    session = requests.Session()
    session.headers["Authorization"] = "Bearer " + token
    client = Client(
        base + "/soap/ES2?wsdl",
        transport=Transport(session=session, timeout=30),
        settings=Settings(strict=True),
        plugins=[WsAddressingPlugin()],
    )
    svc = client.service

    r = svc.GetEIS(
        FunctionCallIdentifier="zeep-1",
        FunctionRequesterIdentifier=requester,
        ValidityPeriod=600,
        Eid=eid,
        **{"Smsr-id": "SMSR-A"},
    )
    st = r.FunctionExecutionStatus
    data = st.StatusCodeData
    print("RESULT GetEIS", st.Status, data.Subject if data else "-", data.Reason if data else "-")

    r = svc.DownloadProfile(
        FunctionCallIdentifier="zeep-2",
        FunctionRequesterIdentifier=requester,
        Eid=eid,
        Profile={"Iccid": iccid},
        EnableProfile=True,
        **{"Smsr-id": "SMSR-A"},
    )
    print("RESULT DownloadProfile", r.FunctionExecutionStatus.Status, r.Iccid)

    # A wrong token: the SOAP fault reaches zeep as zeep.exceptions.Fault.
    session.headers["Authorization"] = "Bearer wrong-token"
    try:
        svc.GetEIS(
            FunctionCallIdentifier="zeep-3",
            FunctionRequesterIdentifier=requester,
            Eid=eid,
            **{"Smsr-id": "SMSR-A"},
        )
        print("NO FAULT")
    except Fault as f:
        print("FAULT", f.code, f.message)


if __name__ == "__main__":
    main()
