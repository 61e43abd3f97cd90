"""Command line: ``camera-bridge run|check-config|list-devices``."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

import yaml

from . import __version__
from .config import Config, load, masked
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
    devices = sub.add_parser("list-devices", help="list USB (V4L2) capture devices")
    devices.add_argument("--json", action="store_true", help="print JSON")
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


def setup_logging(level: str) -> None:
    """Log to stderr with secrets masked; under systemd (``JOURNAL_STREAM`` set) with syslog
    priority prefixes, else with time stamps."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(JournalFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def _load(path: str) -> Config | None:
    try:
        return load(path)
    except ConfigError as err:
        print(f"configuration {path} is invalid:", file=sys.stderr)
        for line in err.errors:
            print(f"  {line}", file=sys.stderr)
        return None


def _run(config: Config) -> int:
    from .app import run  # heavy imports (PyAV, OpenCV) only when running

    setup_logging(config.log_level)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await run(config, stop)

    try:
        asyncio.run(main())
    except Exception as err:  # a crashed loop: log it whole, exit 1 so systemd restarts us
        logging.getLogger("bridge").critical("bridge stopped by an internal error", exc_info=err)
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


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 1 failure, 2 invalid configuration)."""
    args = _parser().parse_args(argv)
    if args.command == "list-devices":
        return _list_devices(args.json)
    config = _load(args.config)
    if config is None:
        return EXIT_CONFIG
    if args.command == "check-config":
        print(yaml.safe_dump(masked(config), sort_keys=False), end="")
        return EXIT_OK
    return _run(config)
