"""Detection models fetched once by hand (``camera-bridge model download yolox-nano``): from their
official release URL, checked against a pinned SHA-256, written atomically. The running bridge
never downloads anything; it reads the file ``detect.model`` names."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .errors import BridgeError
from .files import write_atomic

#: seconds a download may stall before it is given up
DOWNLOAD_TIMEOUT = 30.0
#: bytes read per chunk
CHUNK = 1 << 16


class ModelError(BridgeError):
    """Raised when a model cannot be downloaded (server unreachable, HTTP error, checksum
    mismatch, too large) or saved; the message says what to do, offline too."""


@dataclass(frozen=True)
class KnownModel:
    """A model ``camera-bridge model download`` knows: its ``name``, the ``filename`` it is saved
    as, its official release ``url``, pinned ``sha256`` (hex), ``size`` in bytes, ``licence``."""

    name: str
    filename: str
    url: str
    sha256: str
    size: int
    licence: str

    @property
    def max_size(self) -> int:
        """Bytes read at most (an answer larger than this is not the model)."""
        return self.size + self.size // 10


MODELS = {
    "yolox-nano": KnownModel(
        name="yolox-nano",
        filename="yolox_nano.onnx",
        url="https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
        sha256="e8af074932d4ed7e232278e3055cefcdea3edf178874a3694ae292649fb464dd",
        size=3678356,
        licence="Apache-2.0",
    ),
}


def _sha256(path: Path) -> str | None:
    try:
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest()
    except OSError:
        return None


def _offline_hint(model: KnownModel, target: Path, url: str) -> str:
    return (
        f"offline? fetch {url} on a machine with internet access, copy it to {target} and check it: "
        f"`sha256sum {target}` must print {model.sha256}"
    )


def download(model: KnownModel, directory: Path, url: str | None = None) -> tuple[Path, bool]:
    """Download ``model`` (from ``url``, default its release URL) into ``directory`` (created)
    as ``model.filename``; returns ``(path, downloaded)``, ``downloaded`` false when a file with
    the pinned checksum was there already. Nothing is written unless the SHA-256 matches. Blocking.
    Raises :class:`ModelError`."""
    target = directory / model.filename
    if _sha256(target) == model.sha256:
        return target, False
    source = url or model.url
    digest = hashlib.sha256()
    chunks: list[bytes] = []
    received = 0
    try:
        with urllib.request.urlopen(source, timeout=DOWNLOAD_TIMEOUT) as answer:
            while chunk := answer.read(CHUNK):
                received += len(chunk)
                if received > model.max_size:
                    raise ModelError(
                        f"{source} sends more than {model.max_size} bytes: not {model.filename} "
                        f"({model.size} bytes); nothing saved"
                    )
                digest.update(chunk)
                chunks.append(chunk)
    except urllib.error.HTTPError as err:
        raise ModelError(
            f"{source} answered {err.code} {err.reason}; nothing saved; " + _offline_hint(model, target, model.url)
        ) from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        reason = getattr(reason, "strerror", None) or reason
        raise ModelError(
            f"cannot download {source}: {reason}; nothing saved; " + _offline_hint(model, target, model.url)
        ) from None
    if digest.hexdigest() != model.sha256:
        raise ModelError(
            f"checksum mismatch for {source}: sha256 {digest.hexdigest()}, expected {model.sha256} "
            f"({received} bytes received); nothing saved. A damaged or different file: try again, "
            "or " + _offline_hint(model, target, model.url)
        )
    try:
        write_atomic(target, b"".join(chunks))
    except OSError as err:
        raise ModelError(f"cannot write {target}: {err.strerror or err}") from None
    return target, True
