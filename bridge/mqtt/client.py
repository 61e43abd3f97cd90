"""The broker connection (aiomqtt): reconnects with backoff, never queues without bound.

Outgoing messages are kept per topic (a newer payload replaces an unsent one where it stands in
the queue, so the order of first publication is kept), so a slow or
absent broker costs at most one pending message per topic; while disconnected nothing is kept,
and ``on_connect`` re-publishes the current state once the connection is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiomqtt

from ..backoff import backoff_delay
from ..config import MqttConfig
from ..redact import redact
from ..service import Service

_LOGGER = logging.getLogger(__name__)

#: seconds the connection waits for the broker's goodbye when the bridge stops (a hung broker
#: never answers; the will covers what it missed)
DISCONNECT_TIMEOUT = 1.0

#: unsent messages past which a message that is not coalesced (an event) is dropped
MAX_PENDING = 10_000


@dataclass(frozen=True)
class Outgoing:
    """One message to publish."""

    topic: str
    payload: bytes | str
    retain: bool
    qos: int
    #: checked again just before sending: False drops the message (cluster: lease still valid)
    guard: Callable[[], bool] | None = None


def _raise_if_cancelled() -> None:
    """Re-raise a cancellation that ``asyncio.wait_for`` swallowed.

    aiomqtt waits with ``asyncio.wait_for``, which on Python 3.11 can return normally when the
    awaited future completes in the same loop step as a ``cancel()`` (CPython gh-86296, fixed in
    3.12): the loop would then go on forever with the cancellation lost. Only for tasks that
    never continue after a cancellation (the connection loops).
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class _Reconfigured(aiomqtt.MqttError):
    """Ends a connection whose settings were replaced (:meth:`MqttLink.reconfigure`)."""


class MqttLink(Service):
    """Async context manager holding the bridge's MQTT connection (task ``mqtt.connection``).

    ``will`` is the (topic, payload) last-will message, published retained by the broker when
    the bridge vanishes. ``subscriptions`` are (re)subscribed on every connect; incoming messages
    go to ``on_message``; ``on_connect`` runs after each (re)connect, before queued messages.
    """

    def __init__(
        self,
        config: MqttConfig,
        *,
        will: tuple[str, str],
        subscriptions: list[str],
        on_message: Callable[[aiomqtt.Message], None],
        on_connect: Callable[[], Awaitable[None]],
    ) -> None:
        super().__init__()
        self._config = config
        self._will = will
        self._subscriptions = subscriptions
        self._on_message = on_message
        self._on_connect = on_connect
        self._pending: dict[str, Outgoing] = {}
        self._seq = itertools.count()
        self._wake = asyncio.Event()
        self._reconnect = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self.connects = 0
        self.published = 0  #: messages handed to the broker (metrics)

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        *,
        retain: bool = False,
        qos: int = 0,
        coalesce: bool = True,
        guard: Callable[[], bool] | None = None,
    ) -> None:
        """Queue a message; replaces an unsent message for the same topic in its place in the
        queue (unless ``coalesce=False``: events, each of which counts). Messages leave in the
        order they were first queued, so what was published before an event is on the broker
        before it: a frame's snapshot (or a newer one) before that frame's detection event.
        Dropped while disconnected (the state is re-published on reconnect), and at send time
        when ``guard`` (if given) returns False."""
        if not self.connected.is_set():
            return
        if not coalesce and len(self._pending) >= MAX_PENDING:
            _LOGGER.debug("mqtt: %d messages unsent, dropping one on %s", len(self._pending), topic)
            return
        key = topic if coalesce else f"{topic}\0{next(self._seq)}"
        # an unsent message of the topic is replaced where it stands (a dict keeps the first
        # insertion's position): moving it to the back would let later messages overtake it
        self._pending[key] = Outgoing(topic, payload, retain, qos, guard)
        self._wake.set()

    async def publish_now(self, topic: str, payload: bytes | str, *, retain: bool = False, qos: int = 1) -> None:
        """Publish immediately, bypassing the queue (shutdown messages); no-op if offline."""
        if self._client is not None and self.connected.is_set():
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.publish(topic, payload, qos=qos, retain=retain, timeout=2)
                self.published += 1

    def reconfigure(self, config: MqttConfig) -> None:
        """Use new connection settings (broker, credentials, client id, keepalive): the current
        connection is closed and the next one opened with them at once (hot reload)."""
        self._config = config
        self._reconnect.set()

    async def _until_reconfigured(self) -> None:
        await self._reconnect.wait()
        raise _Reconfigured("reconnecting with new settings")

    def _loops(self) -> dict[str, Coroutine[Any, Any, None]]:
        return {"mqtt.connection": self._run()}

    async def _finish(self) -> None:
        # leaving the connection sends DISCONNECT and waits for the broker to close it: bounded,
        # so a dead or hung broker cannot hold up the stop
        if self._client is not None:
            self._client.timeout = DISCONNECT_TIMEOUT

    def _client_for(self) -> aiomqtt.Client:
        cfg = self._config
        topic, payload = self._will
        return aiomqtt.Client(
            cfg.host,
            cfg.port,
            username=cfg.username,
            password=cfg.password,
            identifier=cfg.client_id or f"camera-bridge-{cfg.base_topic.replace('/', '-')}",
            keepalive=cfg.keepalive,
            will=aiomqtt.Will(topic, payload, qos=1, retain=True),
            timeout=10,
        )

    async def _run(self) -> None:
        attempt = 0
        warned = False
        while True:
            cfg = self._config
            self._reconnect.clear()
            reconfigured = False
            try:
                async with self._client_for() as client:
                    self._client = client
                    for topic in self._subscriptions:
                        await client.subscribe(topic, qos=1)
                        _raise_if_cancelled()
                    self.connects += 1
                    attempt, warned = 0, False
                    _LOGGER.info("mqtt: connected to %s:%s", cfg.host, cfg.port)
                    self.connected.set()
                    self._pending.clear()
                    await self._on_connect()
                    async with asyncio.TaskGroup() as tg:
                        tg.create_task(self._send(client), name="mqtt.send")
                        tg.create_task(self._receive(client), name="mqtt.receive")
                        tg.create_task(self._until_reconfigured(), name="mqtt.reconfigure")
                        # stay in the body: on Python 3.11 a child failing while the group
                        # waits in __aexit__ leaves this task marked "cancelling" for good
                        # (fixed in 3.12), which _raise_if_cancelled would then act on
                        await asyncio.get_running_loop().create_future()
            except* _Reconfigured:
                _LOGGER.info("mqtt: new connection settings: reconnecting")
                reconfigured = True
            except* aiomqtt.MqttError as group:
                err = group.exceptions[0]
                level = logging.DEBUG if warned else logging.WARNING
                _LOGGER.log(level, "mqtt: %s:%s unavailable: %s", cfg.host, cfg.port, redact(err))
                warned = True
            finally:
                self._client = None
                self.connected.clear()
                self._pending.clear()
            # cancelled while the connection failed (the broker stopping together with the
            # bridge): the group or the client's exit raised MqttError instead of the
            # cancellation, which must not be lost, or the bridge never stops
            _raise_if_cancelled()
            if reconfigured:
                attempt, warned = 0, False
                continue
            # new settings (hot reload) end the wait at once
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff_delay(attempt)):
                    await self._reconnect.wait()
            attempt += 1

    async def _send(self, client: aiomqtt.Client) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                topic = next(iter(self._pending))
                msg = self._pending.pop(topic)
                if msg.guard is not None and not msg.guard():
                    continue
                await client.publish(msg.topic, msg.payload, qos=msg.qos, retain=msg.retain)
                self.published += 1
                _raise_if_cancelled()

    async def _receive(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            try:
                self._on_message(message)
            except Exception:  # a bad message must not drop the connection
                _LOGGER.exception("mqtt: handling %s failed", message.topic.value)
