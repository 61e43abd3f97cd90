"""Command line: ``camera-bridge run|check-config|list-devices|api-key|mediamtx-config|probe|discover|model``,
one function per subcommand (``_run``, ``_probe``, ...), dispatched by :func:`main`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import yaml

from . import __version__
from .config import ROLES, Config, load, masked, parse
from .errors import CaptureError, ConfigError, DeviceError
from .redact import RedactingFilter

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


DESCRIPTION = """\
Camera Bridge: RTSP/USB cameras to MQTT snapshots, status and Home Assistant discovery,
with an HTTP/WebSocket API. Run `camera-bridge COMMAND --help` for a command's options."""

EPILOG = """\
first steps:
  camera-bridge discover                        find ONVIF and USB cameras
  camera-bridge probe rtsp://user:pass@192.168.1.20:554/stream1
  camera-bridge check-config --config config.yaml
  camera-bridge run --config config.yaml"""


def _command(
    sub: argparse._SubParsersAction, name: str, summary: str, example: str, details: str = ""
) -> argparse.ArgumentParser:
    """Add subcommand ``name``: ``summary`` in the command list, ``details`` under it in its own
    help, ``example`` (one or more command lines) at the end of its help."""
    return sub.add_parser(
        name,
        help=summary,
        description=f"{summary[0].upper()}{summary[1:]}." + (f"\n\n{details}" if details else ""),
        epilog="example:\n" + "\n".join(f"  {line}" for line in example.splitlines()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def _config_option(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--config", "-c", required=True, metavar="FILE", help="the YAML configuration file")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="camera-bridge",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"camera-bridge {__version__}")
    sub = parser.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")
    _config_option(
        _command(
            sub,
            "run",
            "run the bridge",
            "camera-bridge run --config config.yaml",
            "Stops on SIGTERM or Ctrl-C; exit status 2 when the configuration is invalid.",
        )
    )
    _config_option(
        _command(
            sub,
            "check-config",
            "validate a config and print it with secrets masked",
            "camera-bridge check-config --config config.yaml",
            "Prints every error found (exit status 2), or the effective configuration.",
        )
    )
    mtx = _command(
        sub,
        "mediamtx-config",
        "write a mediamtx.yml for the configured cameras",
        "camera-bridge mediamtx-config --config config.yaml --stdout",
    )
    _config_option(mtx)
    mtx.add_argument("--stdout", action="store_true", help="print it instead of writing mediamtx.config_out")
    devices = _command(sub, "list-devices", "list USB (V4L2) capture devices", "camera-bridge list-devices --json")
    devices.add_argument("--json", action="store_true", help="print JSON")
    key = _command(
        sub,
        "api-key",
        "make an API key: prints it once, with the hash for api.keys",
        "camera-bridge api-key --name home-assistant --role operator",
    )
    key.add_argument("--name", default="client", help="who the key is for (default: client)")
    key.add_argument("--role", choices=ROLES, default="viewer", help="its role (default: viewer)")
    probe = _command(
        sub,
        "probe",
        "open a camera URL and show what it sends, or why it fails",
        "camera-bridge probe rtsp://admin:secret@192.168.1.20:554/stream1\n"
        "camera-bridge probe /dev/video0 --snapshot desk.jpg",
        "Prints codec, size, frame rate, GOP (frames per keyframe) and audio, and saves\n"
        "one picture; or the error in words (host not found, connection refused,\n"
        "timeout, 401 wrong credentials, 404 wrong path, unsupported codec), exit 1.",
    )
    probe.add_argument("url", metavar="URL", help="rtsp://, http://, a /dev/videoN device, a file, or lavfi:GRAPH")
    probe.add_argument(
        "--snapshot",
        "-o",
        default="probe.jpg",
        metavar="FILE",
        help="where to save the picture (default: probe.jpg; '' for none)",
    )
    probe.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds to wait for the camera to answer (default: 10)",
    )
    probe.add_argument("--transport", choices=("tcp", "udp"), default="tcp", help="RTSP transport (default: tcp)")
    probe.add_argument("--json", action="store_true", help="print JSON")
    discover = _command(
        sub,
        "discover",
        "find ONVIF cameras on the local network and USB cameras",
        "camera-bridge discover --user admin --password secret\n"
        "camera-bridge discover --user admin --add porch_cam --config config.yaml\n"
        "camera-bridge discover --user admin --add porch_cam --api http://127.0.0.1:8765",
        "ONVIF cameras answer a WS-Discovery probe; with --user (and --password, or\n"
        "CAMERA_BRIDGE_ONVIF_PASSWORD) each one's profiles and RTSP stream URIs (main and\n"
        "sub) are listed. --add ID writes the camera listed as ID into --config FILE\n"
        "(comments and layout kept) or registers it through the bridge's API (--api URL,\n"
        "key from --api-key or CAMERA_BRIDGE_API_KEY).",
    )
    discover.add_argument("--user", "-u", help="ONVIF (and RTSP) user name of the cameras")
    discover.add_argument("--password", "-p", help="its password (default: $CAMERA_BRIDGE_ONVIF_PASSWORD)")
    discover.add_argument(
        "--timeout",
        type=float,
        default=3.0,
        metavar="SECONDS",
        help="seconds to listen for WS-Discovery answers (default: 3)",
    )
    discover.add_argument(
        "--host",
        action="append",
        default=[],
        metavar="HOST[:PORT]",
        help="only the ONVIF device there, asked directly if it does not answer "
        "WS-Discovery (multicast blocked); repeatable",
    )
    discover.add_argument("--no-usb", action="store_true", help="skip USB cameras")
    discover.add_argument("--no-onvif", action="store_true", help="skip ONVIF cameras (USB only)")
    discover.add_argument("--json", action="store_true", help="print JSON")
    discover.add_argument("--add", metavar="ID", help="add the camera listed as ID")
    discover.add_argument("--as", dest="as_id", metavar="CAMERA_ID", help="camera id to add it as (default: ID)")
    target = discover.add_mutually_exclusive_group()
    target.add_argument("--config", "-c", metavar="FILE", help="with --add: the YAML configuration to add it to")
    target.add_argument("--api", metavar="URL", help="with --add: a running bridge's API to register it with")
    discover.add_argument("--api-key", help="with --api: an admin API key (default: $CAMERA_BRIDGE_API_KEY)")
    model = _command(
        sub,
        "model",
        "download a detection model (checked against its pinned SHA-256)",
        "camera-bridge model download yolox-nano --dir /var/lib/camera-bridge/models",
    )
    model_sub = model.add_subparsers(title="actions", dest="action", required=True, metavar="ACTION")
    download = _command(
        model_sub,
        "download",
        "fetch a model from its official release URL",
        "camera-bridge model download yolox-nano --dir /var/lib/camera-bridge/models",
        "Checks the file's SHA-256 before saving it (atomically) and prints the\n"
        "detect.model line to add to the configuration.",
    )
    from .model import MODELS

    download.add_argument("name", choices=sorted(MODELS), help="which model")
    download.add_argument("--dir", "-d", default="models", metavar="DIR", help="where to save it (default: ./models)")
    download.add_argument("--url", metavar="URL", help="download from here instead (a mirror)")
    reload = _command(
        sub,
        "reload",
        "make a running bridge reload its configuration file",
        "camera-bridge reload --config config.yaml",
        "Validates the file first (every error, exit 2), then asks the bridge's API\n"
        "(POST /api/bridge/reload, admin key from --api-key or CAMERA_BRIDGE_API_KEY).\n"
        "Without the API: systemctl reload camera-bridge (SIGHUP). The bridge also\n"
        "reloads by itself when the file changes.",
    )
    _config_option(reload)
    reload.add_argument("--api-key", help="an admin API key (default: $CAMERA_BRIDGE_API_KEY)")
    history = _command(
        sub,
        "config",
        "list the applied configurations, or roll back to one",
        "camera-bridge config history --config config.yaml\ncamera-bridge config rollback 12 --config config.yaml",
        "The bridge keeps the last 20 configurations it applied (data_dir/config-history).\n"
        "rollback N writes configuration N back to --config FILE (atomically); a running\n"
        "bridge applies it at once (it watches the file).",
    )
    history.add_argument("action", choices=("history", "rollback"), help="what to do")
    history.add_argument("number", nargs="?", type=int, help="with rollback: the configuration's number")
    _config_option(history)
    cluster = _command(
        sub,
        "cluster",
        "show the cluster's members, leases and cameras per member",
        "camera-bridge cluster status --config config.yaml",
        "Reads the PostgreSQL database of the config's cluster: section (docs/cluster.md).",
    )
    cluster.add_argument("action", choices=("status",), help="what to show")
    _config_option(cluster)
    cluster.add_argument("--json", action="store_true", help="print JSON")
    return parser


class JournalFormatter(logging.Formatter):
    """Prefixes each line with its syslog priority (``<4>`` = warning), which journald reads
    from a service's stderr (sd-daemon(3)); no time stamp, the journal adds its own."""

    PRIORITIES = ((logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6))

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = next((p for level, p in self.PRIORITIES if record.levelno >= level), 7)
        return f"<{priority}>{super().format(record)}"


class RequestIdFilter(logging.Filter):
    """Sets ``record.request_id`` to the id of the API request the line belongs to (or None).

    Runs in the thread that logs, so the request's context (``bridge.api.server.REQUEST_ID``,
    also copied into ``asyncio.to_thread`` workers) is the current one.
    """

    def __init__(self) -> None:
        super().__init__()
        from .api.server import REQUEST_ID  # aiohttp: only imported when logging JSON

        self._request_id = REQUEST_ID

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = self._request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``time`` (ISO 8601 UTC), ``level``, ``logger``, ``message``,
    ``request_id`` (when the line belongs to an API request), ``exception`` (traceback text).
    ``journal=True`` prefixes the syslog priority as :class:`JournalFormatter` does."""

    def __init__(self, journal: bool = False) -> None:
        super().__init__()
        self._journal = journal

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        line = json.dumps(entry, default=str)
        if not self._journal:
            return line
        priority = next((p for level, p in JournalFormatter.PRIORITIES if record.levelno >= level), 7)
        return f"<{priority}>{line}"


def setup_logging(level: str, log_format: str = "text", stream: IO[str] | None = None) -> None:
    """Log to stderr (or ``stream``) with secrets masked; ``log_format: json`` writes one JSON
    object per line with the request id; under systemd (``JOURNAL_STREAM`` set) with syslog
    priority prefixes, else with time stamps."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactingFilter())
    if log_format == "json":
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(JsonFormatter(journal=bool(os.environ.get("JOURNAL_STREAM"))))
    elif os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _load(path: str) -> Config | None:
    try:
        config = load(path)
        from .detect.detector import check_models  # detection models: shapes checked here

        errors = check_models(config)
        if errors:
            raise ConfigError(errors)
        return config
    except ConfigError as err:
        print(f"configuration {path} is invalid:", file=sys.stderr)
        for line in err.errors:
            print(f"  {line}", file=sys.stderr)
        return None


#: seconds a stop may take (final MQTT messages, cameras, API) before the bridge exits anyway
STOP_DEADLINE = 5.0

_LOGGER = logging.getLogger("bridge")


def _on_stop_signal(sig: signal.Signals, stop: asyncio.Event) -> None:
    """SIGINT/SIGTERM: the first stops the bridge in order, bounded by :data:`STOP_DEADLINE`
    (a daemon thread, so neither a stuck task nor a blocked loop can keep the process); a
    second one exits at once with status 128 + signal number, as a shell reports it."""
    if not stop.is_set():
        _LOGGER.info("%s: stopping (send it again to exit at once)", sig.name)
        stop.set()
        deadline = threading.Timer(STOP_DEADLINE, _stop_overdue)
        deadline.daemon = True
        deadline.start()
        return
    _LOGGER.warning("%s again: exiting at once", sig.name)
    _exit_now(128 + sig)


def _stop_overdue() -> None:
    _LOGGER.error("bridge did not stop within %s s: exiting without finishing the stop", STOP_DEADLINE)
    _exit_now(EXIT_FAILURE)


def _exit_now(status: int) -> None:
    for handler in logging.getLogger().handlers:
        with contextlib.suppress(Exception):
            handler.flush()
    os._exit(status)


def _on_hangup(hangup: asyncio.Event) -> None:
    """SIGHUP (``systemctl reload``, ``kill -HUP``): reload the configuration file; never kills
    the bridge."""
    _LOGGER.info("SIGHUP: reloading the configuration")
    hangup.set()


def _run(config: Config, path: str | None = None) -> int:
    from .memory import Trimmer, tune_malloc

    tune_malloc()  # before any capture thread exists
    from .app import run  # heavy imports (PyAV, OpenCV) only when running

    setup_logging(config.log_level, config.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _on_stop_signal, sig, stop)
        hangup = asyncio.Event()
        loop.add_signal_handler(signal.SIGHUP, _on_hangup, hangup)
        async with Trimmer():
            await run(config, stop, path=Path(path) if path else None, hangup=hangup)

    try:
        asyncio.run(main())
    except Exception as err:  # a crashed loop: log it whole, exit 1 so systemd restarts us
        _LOGGER.critical("bridge stopped by an internal error", exc_info=err)
        return EXIT_FAILURE
    return EXIT_OK


def _list_devices(as_json: bool) -> int:
    from .capture.usb import list_devices

    try:
        devices = list_devices()
    except DeviceError as err:
        print(err, file=sys.stderr)
        return EXIT_FAILURE
    if as_json:
        print(json.dumps([d.as_dict() for d in devices], indent=2))
    else:
        for d in devices:
            print(f"{d.device}\t{d.name}\t{d.vendor_id or '-'}:{d.product_id or '-'}\t{d.serial or '-'}")
    return EXIT_OK


def _api_key(name: str, role: str) -> int:
    """Print a new API key (only this once) and the ``api.keys`` entry with its hash."""
    from .api.auth import generate_key, hash_key

    if not name.strip():
        print("api-key: --name must not be empty", file=sys.stderr)
        return EXIT_FAILURE
    key = generate_key()
    snippet = yaml.safe_dump({"api": {"keys": [{"name": name, "hash": hash_key(key), "role": role}]}}, sort_keys=False)
    print(f"API key for {name!r} (role {role}); it is shown only this once, store it now:\n")
    print(f"    {key}\n")
    print("Add its hash to the configuration (api.keys); the key itself stays out of it:\n")
    print(snippet, end="")
    return EXIT_OK


def _mediamtx_config(config: Config, to_stdout: bool) -> int:
    """Write (atomically, mode 0600) or print the generated mediamtx.yml."""
    from .mediamtx.generate import build, render, write_atomic

    text = render(build(config))
    out = config.mediamtx.config_out
    if to_stdout or not out:
        print(text, end="")
        return EXIT_OK
    try:
        write_atomic(Path(out), text)
    except OSError as err:
        print(f"cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {out} ({len(config.cameras)} camera path(s))")
    return EXIT_OK


def _check_config(config: Config) -> int:
    print(yaml.safe_dump(masked(config), sort_keys=False), end="")
    return EXIT_OK


def _probe(url: str, snapshot: str, timeout: float, transport: str, as_json: bool) -> int:
    """Open ``url`` as a camera would; print what it carries and save a picture, or the error."""
    from .config import CameraConfig, source_kind
    from .probe import probe_source
    from .redact import REDACTOR, mask_url

    password = _url_password(url)
    REDACTOR.add(password)
    try:
        kind = source_kind(url)
    except Exception:
        print(
            f"probe: {mask_url(url)!r} is not a camera source: expected rtsp://, http(s)://, "
            "/dev/videoN, a file or lavfi:GRAPH",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    cam = CameraConfig(
        id="probe",
        url=None if kind == "usb" else url,
        device=url if kind == "usb" else None,
        transport=transport,
        open_timeout=timeout,
        stall_timeout=timeout,
    )
    try:
        result = probe_source(cam)
    except CaptureError as err:
        if as_json:
            print(json.dumps({"ok": False, "source": cam.safe_source, "reason": err.reason, "error": str(err)}))
        else:
            print(f"probe failed: {err}", file=sys.stderr)
        return EXIT_FAILURE
    saved = None
    if snapshot and result.jpeg is not None:
        from pathlib import Path

        from .files import write_atomic

        try:
            write_atomic(Path(snapshot), result.jpeg)
        except OSError as err:
            print(f"probe: cannot write {snapshot}: {err.strerror or err}", file=sys.stderr)
            return EXIT_FAILURE
        saved = snapshot
    info = result.info
    facts = {
        "ok": True,
        "source": cam.safe_source,
        "codec": info.codec if info else None,
        "width": info.width if info else None,
        "height": info.height if info else None,
        "fps": round(result.fps, 2) if result.fps else None,
        "gop": result.gop,
        "audio": info.audio if info else None,
        "snapshot": saved,
    }
    if as_json:
        print(json.dumps(facts))
        return EXIT_OK
    print(f"source:   {facts['source']}")
    print(f"codec:    {facts['codec']}")
    print(f"size:     {facts['width']}x{facts['height']}")
    print(f"fps:      {facts['fps'] if facts['fps'] else 'unknown'} (measured over {result.seconds:.1f} s)")
    print(f"gop:      {f'{result.gop} frames' if result.gop else 'unknown (one keyframe seen)'}")
    print(f"audio:    {facts['audio'] or 'none'}")
    print(f"snapshot: {saved or 'none'}")
    return EXIT_OK


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _discover(args: argparse.Namespace) -> int:
    """List ONVIF and USB cameras; with ``--add`` write one into the config or the API."""
    from .discover import DiscoverError, add_to_api, add_to_config, find, parse_host, render

    password = args.password if args.password is not None else os.environ.get("CAMERA_BRIDGE_ONVIF_PASSWORD")
    if args.add and not (args.config or args.api):
        print("discover: --add needs --config FILE or --api URL (where to add the camera)", file=sys.stderr)
        return EXIT_FAILURE
    try:
        hosts = [parse_host(text) for text in args.host]
    except ValueError as err:
        print(f"discover: --host: {err}", file=sys.stderr)
        return EXIT_FAILURE
    found = asyncio.run(
        find(args.user, password, args.timeout, usb=not args.no_usb, hosts=hosts, with_onvif=not args.no_onvif)
    )
    if not args.add:
        print(json.dumps([c.as_dict() for c in found], indent=2) if args.json else render(found, args.user))
        return EXIT_OK
    camera = next((c for c in found if c.id == args.add), None)
    if camera is None:
        listed = ", ".join(c.id for c in found) or "none"
        print(f"discover: no camera {args.add!r} found (found: {listed})", file=sys.stderr)
        return EXIT_FAILURE
    cam_id = args.as_id or camera.id
    try:
        if args.config:
            add_to_config(args.config, cam_id, camera)
            print(
                f"added camera {cam_id} to {args.config}; check it with: "
                f"camera-bridge check-config --config {args.config}"
            )
        else:
            key = args.api_key or os.environ.get("CAMERA_BRIDGE_API_KEY")
            location = asyncio.run(add_to_api(args.api, key, cam_id, camera))
            print(f"registered camera {cam_id} with {args.api} ({location})")
    except ConfigError as err:
        for line in err.errors:
            print(f"discover: {line}", file=sys.stderr)
        return EXIT_FAILURE
    except DiscoverError as err:
        print(f"discover: {err}", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK


def _model_download(name: str, directory: str, url: str | None) -> int:
    """Download a known model, check it, save it, print the config line."""
    from pathlib import Path

    from .model import MODELS, ModelError, download

    model = MODELS[name]
    print(f"{model.name}: {model.filename}, {model.size / 1e6:.1f} MB, licence {model.licence}")
    try:
        path, downloaded = download(model, Path(directory), url)
    except ModelError as err:
        print(f"model download: {err}", file=sys.stderr)
        return EXIT_FAILURE
    state = "downloaded and checked" if downloaded else "already there, checked"
    print(f"{path.resolve()}: {state} (sha256 {model.sha256})")
    print("Add it to the configuration (all cameras; or under cameras.<id>.detect):\n")
    print(yaml.safe_dump({"detect": {"model": str(path.resolve())}}, sort_keys=False), end="")
    return EXIT_OK


def _cluster_status(config: Config, as_json: bool) -> int:
    """Print the cluster's members, leases and unowned cameras; 1 when there is no cluster or
    its database cannot be reached (the error in words, password masked)."""
    if not config.cluster.enabled:
        print("error: the configuration has no cluster.dsn (docs/cluster.md)", file=sys.stderr)
        return EXIT_FAILURE
    import asyncpg

    from .cluster import status

    async def read() -> status.ClusterStatus:
        conn = await asyncpg.connect(config.cluster.dsn, timeout=10)
        try:
            return await status.read(conn, config.cluster.lease_ttl)
        finally:
            await conn.close()

    try:
        found = asyncio.run(read())
    except (OSError, asyncpg.PostgresError, TimeoutError) as err:
        from .redact import redact

        print(f"error: cannot read the cluster database: {redact(str(err))}", file=sys.stderr)
        return EXIT_FAILURE
    if as_json:
        print(
            json.dumps(
                {
                    "members": [vars(m) for m in found.members],
                    "leases": {c: {"owner": o, "epoch": e} for c, (o, e) in found.leases.items()},
                    "unowned": found.unowned,
                },
                indent=2,
            )
        )
    else:
        print(found.as_text())
    return EXIT_OK


def _reload(config: Config, path: str, api_key: str | None) -> int:
    """Ask the running bridge's API to reload; prints what was applied or the file's errors."""
    import urllib.error
    import urllib.request

    api = config.api
    host = "127.0.0.1" if api.host in ("0.0.0.0", "::", "") else api.host
    url = f"http://{host}:{api.port}/api/bridge/reload"
    key = api_key or os.environ.get("CAMERA_BRIDGE_API_KEY")
    request = urllib.request.Request(url, method="POST", headers={"X-API-Key": key} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            result = json.loads(answer.read())
    except urllib.error.HTTPError as err:
        print(f"error: the bridge refused the reload: HTTP {err.code} {err.reason}", file=sys.stderr)
        return EXIT_FAILURE
    except (OSError, ValueError) as err:
        print(
            f"error: no bridge API at {url} ({err}); without the API use "
            "`systemctl reload camera-bridge` or `kill -HUP PID`",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    if result.get("errors"):
        print(f"the bridge rejected {path} and keeps running its current configuration:", file=sys.stderr)
        for line in result["errors"]:
            print(f"  {line}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"reloaded: {result.get('summary', 'no change')}" if result.get("applied") else "reloaded: no change")
    if result.get("restart_needed"):
        print(f"takes effect at the next start: {', '.join(result['restart_needed'])}")
    return EXIT_OK


def _config_history(config: Config, path: str, action: str, number: int | None) -> int:
    """``config history`` (list) and ``config rollback N`` (write entry N to the file)."""
    from .config.history import ConfigHistory
    from .files import write_atomic

    history = ConfigHistory(config.state_dir / "config-history")
    if action == "history":
        entries = history.entries()
        if not entries:
            print("no configuration applied yet")
        for entry in entries:
            when = datetime.fromtimestamp(entry.applied_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
            print(f"{entry.n:4d}  {when}  {entry.source:<12}  {entry.summary}")
        return EXIT_OK
    if number is None:
        print("error: config rollback needs the configuration's number (see config history)", file=sys.stderr)
        return EXIT_FAILURE
    try:
        text = history.text(number)
        parse(text, None, f"configuration {number}")
    except ConfigError as err:
        print(f"error: cannot roll back to {number}:", file=sys.stderr)
        for line in err.errors:
            print(f"  {line}", file=sys.stderr)
        return EXIT_CONFIG
    write_atomic(Path(path), text.encode("utf-8"))
    print(f"{path}: configuration {number} written back; a running bridge applies it now")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failure, 2 invalid configuration)."""
    args = _parser().parse_args(argv)
    if args.command == "list-devices":
        return _list_devices(args.json)
    if args.command == "api-key":
        return _api_key(args.name, args.role)
    if args.command == "probe":
        return _probe(args.url, args.snapshot, args.timeout, args.transport, args.json)
    if args.command == "discover":
        return _discover(args)
    if args.command == "model":
        return _model_download(args.name, args.dir, args.url)
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    if args.command == "mediamtx-config":
        return _mediamtx_config(config, args.stdout)
    if args.command == "check-config":
        return _check_config(config)
    if args.command == "reload":
        return _reload(config, args.config, args.api_key)
    if args.command == "config":
        return _config_history(config, args.config, args.action, args.number)
    if args.command == "cluster":
        return _cluster_status(config, args.json)
    return _run(config, args.config)
