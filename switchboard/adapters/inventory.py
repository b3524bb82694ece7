"""Every queue, table and blob container the app uses: what infra/ creates in Azure and /api/health checks.

Queues are the ones the functions are bound to (a queue trigger's `<name>-poison`, where the host moves
a message that failed `maxDequeueCount` times, included) and the ones read with raw clients.
Tables and containers come from the settings: every field named `*_table`, `*_queue`,
`*_container` or `*_containers`. tests/test_infra_settings.py checks this list against the
function bindings, the code and infra/.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from switchboard.settings import Settings

# The outbound trigger, its poison queue (also a trigger) and that one's poison queue (swept by a timer);
# the voicemail e-mail trigger and its poison queue; the media copies (switchboard/media), their poison queue
# (also a trigger) and that one's poison queue.
QUEUES = (
    "outbound", "outbound-poison", "outbound-poison-poison", "voicemail-email", "voicemail-email-poison",
    "media-downloads", "media-downloads-poison", "media-downloads-poison-poison",
)  # fmt: skip
# Tables that no setting names: the voicemail e-mail's sent-once rows, the pace meters (switchboard/adapters/meter.py),
# the OUTBOUND_LIMITS counters and the auto-reply throttle (switchboard/records/limits.py).
TABLES = ("mailsent", "pacing", "limits")


@dataclass(frozen=True)
class StorageNames:
    queues: tuple[str, ...]
    tables: tuple[str, ...]
    containers: tuple[str, ...]


def storage_names(settings: Settings) -> StorageNames:
    queues: set[object] = set(QUEUES)
    tables: set[object] = set(TABLES)
    containers: set[object] = set()
    for field in fields(settings):
        value = getattr(settings, field.name)
        values = sorted(value) if isinstance(value, frozenset) else [value]
        if field.name.endswith("_table"):
            tables.update(values)
        elif field.name.endswith("_queue"):
            queues.update(values)
        elif field.name.endswith(("_container", "_containers")):
            containers.update(values)
    return StorageNames(_clean(queues), _clean(tables), _clean(containers))


def _clean(names: set[object]) -> tuple[str, ...]:
    return tuple(sorted(name for name in names if isinstance(name, str) and name))
