"""Queue side of the local host: polls Azurite with the Functions host's queue-trigger semantics.

- Messages are base64-decoded (host.json `messageEncoding`, default base64) as .NET's
  `Convert.FromBase64String` does: spaces, tabs, CR and LF are ignored, so line-wrapped
  base64 is delivered. One that cannot be decoded goes to `<queue>-poison` on its first
  receive, as in the real host.
- The body reaches the function as the host passes it: a UTF-8 string, invalid bytes replaced.
- A failed message becomes visible again after `visibilityTimeout`; once its dequeue
  count reaches `maxDequeueCount` it is moved, as it was, to `<queue>-poison`.
- Up to `batchSize` messages are fetched and run at once; the next fetch happens
  when fewer than `newBatchThreshold` are still running.
- Polling backs off exponentially to `maxPollingInterval` while the queue is empty.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from azure.functions.queue import QueueMessage as FunctionsQueueMessage

from switchboard.adapters.storage import queue_client
from tools.devhost.hostconfig import QueueConfig
from tools.devhost.index import OutputQueue, QueueFunction
from tools.devhost.invoke import invoke

log = logging.getLogger("tools.devhost")

MIN_POLL_SECONDS = 0.1


class UndecodableMessage(ValueError):
    pass


def decode(text: str, encoding: str) -> bytes:
    if encoding != "base64":
        return text.encode("utf-8")
    try:
        # Convert.FromBase64String skips whitespace (space, tab, CR, LF) anywhere in the input.
        stripped = text.translate({ord(c): None for c in " \t\r\n"})
        return base64.b64decode(stripped.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise UndecodableMessage("The input is not a valid Base-64 string") from None


def encode(value: Any, encoding: str = "base64") -> str:
    raw = value if isinstance(value, bytes) else str(value).encode("utf-8")
    return base64.b64encode(raw).decode("ascii") if encoding == "base64" else raw.decode("utf-8")


class QueueListener:
    def __init__(
        self,
        function: QueueFunction,
        config: QueueConfig,
        send_output: Callable[[OutputQueue, Any], None],
        stop: threading.Event,
    ) -> None:
        self.function = function
        self.config = config
        self.send_output = send_output
        self.stop = stop
        # Raw text on the wire: decoding is the host's job, and undecodable text must not crash the poller.
        self.queue = queue_client(function.queue_name, connection=function.connection, base64=False)
        self.poison = queue_client(function.queue_name + "-poison", connection=function.connection, base64=False)
        self.pool = ThreadPoolExecutor(max_workers=max(1, config.batch_size), thread_name_prefix=function.name)
        self.running: set[Future[None]] = set()
        self.lock = threading.Lock()

    def start(self) -> threading.Thread:
        for client in (self.queue, self.poison):
            create_if_missing(client)
        thread = threading.Thread(target=self._poll_loop, name=f"devhost-queue-{self.function.queue_name}", daemon=True)
        thread.start()
        return thread

    def _poll_loop(self) -> None:
        delay = MIN_POLL_SECONDS
        while not self.stop.is_set():
            try:
                fetched = self._fetch_batch()
            except Exception as error:  # Azurite restarting: keep polling, slower
                log.warning("Polling %s failed: %s", self.function.queue_name, error)
                fetched = 0
            delay = (
                MIN_POLL_SECONDS if fetched else min(delay * 2, max(self.config.max_polling_interval, MIN_POLL_SECONDS))
            )
            self.stop.wait(delay)
        self.pool.shutdown(wait=True, cancel_futures=False)

    def _fetch_batch(self) -> int:
        with self.lock:
            free = self.config.batch_size - len(self.running)
            if len(self.running) >= self.config.new_batch_threshold or free <= 0:
                return 1  # busy, poll again soon
        messages = list(
            self.queue.receive_messages(
                messages_per_page=free, max_messages=free, visibility_timeout=max(1, int(self.config.processing_lease))
            )
        )
        for message in messages:
            future = self.pool.submit(self._process, message)
            with self.lock:
                self.running.add(future)
            future.add_done_callback(self._finished)
        return len(messages)

    def _finished(self, future: Future[None]) -> None:
        with self.lock:
            self.running.discard(future)

    def _process(self, message: Any) -> None:
        dequeue_count = int(message.dequeue_count or 1)
        if dequeue_count > self.config.max_dequeue_count:
            # A message that crashed its worker past the limit goes straight to poison.
            return self._to_poison(message, "dequeue count over maxDequeueCount")
        try:
            raw = decode(message.content, self.config.message_encoding)
        except UndecodableMessage as error:
            # The host moves a message it cannot decode to poison at once, without calling the function.
            return self._to_poison(message, str(error))
        try:
            trigger = FunctionsQueueMessage(
                id=message.id,
                body=raw.decode("utf-8", errors="replace"),
                dequeue_count=dequeue_count,
                pop_receipt=message.pop_receipt,
                insertion_time=_as_datetime(message.inserted_on),
                expiration_time=_as_datetime(message.expires_on),
                time_next_visible=_as_datetime(message.next_visible_on),
            )
            invoke(
                self.function.user_function, self.function.arg_name, trigger, self.function.outputs, self.send_output
            )
        except Exception as error:
            log.warning(
                "Function %s failed on message %s (dequeue %d of %d): %s",
                self.function.name,
                message.id,
                dequeue_count,
                self.config.max_dequeue_count,
                error,
            )
            if dequeue_count >= self.config.max_dequeue_count:
                return self._to_poison(message, str(error))
            try:
                self.queue.update_message(message, visibility_timeout=int(self.config.visibility_timeout))
            except Exception as update_error:
                log.warning("Could not release message %s: %s", message.id, update_error)
            return None
        self.queue.delete_message(message)
        return None

    def _to_poison(self, message: Any, reason: str) -> None:
        log.warning("Moving message %s to %s-poison: %s", message.id, self.function.queue_name, reason)
        self.poison.send_message(message.content)
        self.queue.delete_message(message)


def create_if_missing(client: Any) -> None:
    from azure.core.exceptions import ResourceExistsError

    with contextlib.suppress(ResourceExistsError):
        client.create_queue()


def _as_datetime(value: Any) -> datetime.datetime | None:
    return value if isinstance(value, datetime.datetime) else None
