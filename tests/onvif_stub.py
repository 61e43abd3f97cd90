"""The one fake of the discovery tests (no ONVIF camera exists on this machine): a WS-Discovery
responder (UDP 3702, multicast 239.255.255.250, answers probes with a ProbeMatch) and an ONVIF
device + media service (SOAP over HTTP with WS-Security digest auth) whose stream URIs point at
the real RTSP test server."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import socket
import struct
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from xml.etree import ElementTree

WSD_GROUP, WSD_PORT = "239.255.255.250", 3702

ENVELOPE = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:tds="http://www.onvif.org/ver10/device/wsdl"
 xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"
 xmlns:ter="http://www.onvif.org/ver10/error"><s:Body>{body}</s:Body></s:Envelope>"""

FAULT = """<s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value>ter:NotAuthorized</s:Value>
</s:Subcode></s:Code><s:Reason><s:Text xml:lang="en">Sender not Authorized</s:Text></s:Reason></s:Fault>"""

PROBE_MATCH = """<?xml version="1.0" encoding="UTF-8"?>
<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"
 xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery" xmlns:dn="http://www.onvif.org/ver10/network/wsdl">
<s:Header><a:MessageID>urn:uuid:{message}</a:MessageID><a:RelatesTo>{relates}</a:RelatesTo>
<a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To>
<a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/ProbeMatches</a:Action>
<d:AppSequence InstanceId="1" MessageNumber="{number}"/></s:Header>
<s:Body><d:ProbeMatches><d:ProbeMatch><a:EndpointReference><a:Address>urn:uuid:{epr}</a:Address></a:EndpointReference>
<d:Types>dn:NetworkVideoTransmitter</d:Types>
<d:Scopes>onvif://www.onvif.org/Profile/Streaming onvif://www.onvif.org/name/{name} onvif://www.onvif.org/hardware/{hardware}</d:Scopes>
<d:XAddrs>{xaddr}</d:XAddrs><d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches></s:Body></s:Envelope>"""


@dataclass
class Profile:
    token: str
    name: str
    width: int
    height: int
    uri: str


def _digest_ok(xml: bytes, user: str, password: str) -> bool:
    """Whether the request's WS-Security UsernameToken carries ``user`` and the digest of
    ``password`` (base64(sha1(nonce + created + password)))."""
    text = xml.decode("utf-8", "replace")
    fields = {}
    for name in ("Username", "Password", "Nonce", "Created"):
        found = re.search(rf"<(?:\w+:)?{name}\b[^>]*>([^<]*)</", text)
        fields[name] = found.group(1) if found else None
    if fields["Username"] != user or not fields["Nonce"] or not fields["Created"]:
        return False
    nonce = base64.b64decode(fields["Nonce"])
    expected = base64.b64encode(hashlib.sha1(nonce + fields["Created"].encode() + password.encode()).digest())
    return fields["Password"] == expected.decode()


class OnvifDevice:
    """An ONVIF device (device + media services) on 127.0.0.1, and its WS-Discovery responder.
    Use as a context manager. ``requests`` lists the operations asked for."""

    def __init__(self, user: str, password: str, profiles: list[Profile], name: str = "Porch%20Cam",
                 hardware: str = "SC-100", announce: bool = True) -> None:
        """``announce``: answer WS-Discovery probes (false: a device behind a router that drops
        multicast, reachable only by its address)."""
        self.user, self.password, self.profiles = user, password, profiles
        self.announce = announce
        self.name, self.hardware = name, hardware
        self.epr = str(uuid.uuid4())
        self.requests: list[str] = []
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.port = self._http.server_address[1]
        self._udp: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._stopped = threading.Event()

    @property
    def xaddr(self) -> str:
        return f"http://127.0.0.1:{self.port}/onvif/device_service"

    def __enter__(self) -> OnvifDevice:
        if not self.announce:
            thread = threading.Thread(target=self._http.serve_forever, name="onvif-http", daemon=True)
            thread.start()
            self._threads.append(thread)
            return self
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        udp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        udp.bind(("", WSD_PORT))
        udp.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                       struct.pack("4s4s", socket.inet_aton(WSD_GROUP), socket.inet_aton("0.0.0.0")))
        udp.settimeout(0.2)
        self._udp = udp
        for target, name in ((self._http.serve_forever, "onvif-http"), (self._answer_probes, "onvif-wsd")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(5)
        if self._udp is not None:
            self._udp.close()

    # -- WS-Discovery ----------------------------------------------------------------------

    def _answer_probes(self) -> None:
        assert self._udp is not None
        number = 0
        while not self._stopped.is_set():
            try:
                data, addr = self._udp.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if b"Probe" not in data or b"ProbeMatches" in data:
                continue
            found = re.search(rb"<(?:\w+:)?MessageID>([^<]+)</", data)
            if not found:
                continue
            number += 1
            reply = PROBE_MATCH.format(message=uuid.uuid4(), relates=found.group(1).decode(), number=number,
                                       epr=self.epr, name=self.name, hardware=self.hardware, xaddr=self.xaddr)
            with contextlib.suppress(OSError):
                self._udp.sendto(reply.encode(), addr)

    # -- SOAP ------------------------------------------------------------------------------

    def _answer(self, operation: str, request: bytes) -> tuple[int, str]:
        base = f"http://127.0.0.1:{self.port}/onvif"
        if operation == "GetSystemDateAndTime":
            now = datetime.now(UTC)
            return 200, (
                "<tds:GetSystemDateAndTimeResponse><tds:SystemDateAndTime><tt:DateTimeType>NTP</tt:DateTimeType>"
                "<tt:DaylightSavings>false</tt:DaylightSavings><tt:UTCDateTime>"
                f"<tt:Time><tt:Hour>{now.hour}</tt:Hour><tt:Minute>{now.minute}</tt:Minute><tt:Second>{now.second}</tt:Second></tt:Time>"
                f"<tt:Date><tt:Year>{now.year}</tt:Year><tt:Month>{now.month}</tt:Month><tt:Day>{now.day}</tt:Day></tt:Date>"
                "</tt:UTCDateTime></tds:SystemDateAndTime></tds:GetSystemDateAndTimeResponse>")
        if not _digest_ok(request, self.user, self.password):
            return 400, FAULT
        if operation == "GetServices":
            services = "".join(
                f"<tds:Service><tds:Namespace>http://www.onvif.org/ver10/{ns}/wsdl</tds:Namespace>"
                f"<tds:XAddr>{base}/{path}</tds:XAddr><tds:Version><tt:Major>2</tt:Major><tt:Minor>5</tt:Minor>"
                "</tds:Version></tds:Service>" for ns, path in (("device", "device_service"), ("media", "media_service")))
            return 200, f"<tds:GetServicesResponse>{services}</tds:GetServicesResponse>"
        if operation == "GetDeviceInformation":
            return 200, ("<tds:GetDeviceInformationResponse><tds:Manufacturer>Stubcam</tds:Manufacturer>"
                         f"<tds:Model>{self.hardware}</tds:Model><tds:FirmwareVersion>1.0</tds:FirmwareVersion>"
                         "<tds:SerialNumber>0001</tds:SerialNumber><tds:HardwareId>1</tds:HardwareId>"
                         "</tds:GetDeviceInformationResponse>")
        if operation == "GetProfiles":
            profiles = "".join(
                f'<trt:Profiles token="{p.token}" fixed="true"><tt:Name>{p.name}</tt:Name>'
                f'<tt:VideoEncoderConfiguration token="enc_{p.token}"><tt:Name>enc_{p.token}</tt:Name>'
                "<tt:UseCount>1</tt:UseCount><tt:Encoding>H264</tt:Encoding>"
                f"<tt:Resolution><tt:Width>{p.width}</tt:Width><tt:Height>{p.height}</tt:Height></tt:Resolution>"
                "<tt:Quality>5</tt:Quality></tt:VideoEncoderConfiguration></trt:Profiles>" for p in self.profiles)
            return 200, f"<trt:GetProfilesResponse>{profiles}</trt:GetProfilesResponse>"
        if operation == "GetStreamUri":
            token = re.search(rb"<(?:\w+:)?ProfileToken>([^<]+)</", request)
            profile = next((p for p in self.profiles if token and p.token == token.group(1).decode()), None)
            if profile is None:
                return 400, FAULT.replace("NotAuthorized", "InvalidArgVal").replace("Sender not Authorized", "no profile")
            return 200, (f"<trt:GetStreamUriResponse><trt:MediaUri><tt:Uri>{profile.uri}</tt:Uri>"
                         "<tt:InvalidAfterConnect>false</tt:InvalidAfterConnect><tt:InvalidAfterReboot>false"
                         "</tt:InvalidAfterReboot><tt:Timeout>PT0S</tt:Timeout></trt:MediaUri></trt:GetStreamUriResponse>")
        return 400, FAULT.replace("NotAuthorized", "ActionNotSupported").replace("Sender not Authorized", operation)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        device = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    root = ElementTree.fromstring(body)
                    request = next(el for el in root.iter() if el.tag.endswith("}Body"))[0]
                    operation = request.tag.rsplit("}", 1)[-1]
                except (ElementTree.ParseError, StopIteration, IndexError):
                    operation = "?"
                device.requests.append(operation)
                status, answer = device._answer(operation, body)
                data = ENVELOPE.format(body=answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/soap+xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
