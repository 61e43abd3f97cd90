"""Command line: ``camera-bridge run|check-config|list-devices|api-key|mediamtx-config``."""

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
from typing import IO

import yaml

from . import __version__
from .config import ROLES, Config, load, masked
from .errors import ConfigError, DeviceError
from .redact import RedactingFilter

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="camera-bridge", description=__doc__)
    parser.add_argument("--version", action="version", version=f"camera-bridge {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (("run", "run the bridge"),
                       ("check-config", "validate a config and print it with secrets masked")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", "-c", required=True, help="path to the YAML configuration")
    mtx = sub.add_parser("mediamtx-config", help="write a mediamtx.yml for the configured cameras")
    mtx.add_argument("--config", "-c", required=True, help="path to the YAML configuration")
    mtx.add_argument("--stdout", action="store_true", help="print it instead of writing mediamtx.config_out")
    devices = sub.add_parser("list-devices", help="list USB (V4L2) capture devices")
    devices.add_argument("--json", action="store_true", help="print JSON")
    key = sub.add_parser("api-key", help="make an API key: prints it once, with the hash for api.keys")
    key.add_argument("--name", default="client", help="who the key is for (default: client)")
    key.add_argument("--role", choices=ROLES, default="viewer", help="its role (default: viewer)")
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


def _on_hangup() -> None:
    """SIGHUP (a closed terminal, ``systemctl reload``) must not kill the bridge."""
    _LOGGER.warning("SIGHUP: reloading the configuration is not supported yet; the bridge keeps "
                    "running with its current configuration (restart it to apply changes)")


def _run(config: Config) -> int:
    from .memory import tune_malloc

    tune_malloc()  # before any capture thread exists
    from .app import run  # heavy imports (PyAV, OpenCV) only when running

    setup_logging(config.log_level, config.log_format)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, _on_stop_signal, sig, stop)
        loop.add_signal_handler(signal.SIGHUP, _on_hangup)
        await run(config, stop)

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
    snippet = yaml.safe_dump({"api": {"keys": [{"name": name, "hash": hash_key(key), "role": role}]}},
                             sort_keys=False)
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
        write_atomic(out, text)
    except OSError as err:
        print(f"cannot write {out}: {err.strerror or err}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"wrote {out} ({len(config.cameras)} camera path(s))")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failure, 2 invalid configuration)."""
    args = _parser().parse_args(argv)
    if args.command == "list-devices":
        return _list_devices(args.json)
    if args.command == "api-key":
        return _api_key(args.name, args.role)
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    if args.command == "mediamtx-config":
        return _mediamtx_config(config, args.stdout)
    if args.command == "check-config":
        print(yaml.safe_dump(masked(config), sort_keys=False), end="")
        return EXIT_OK
    return _run(config)
