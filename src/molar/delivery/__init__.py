"""Delivery: the outbox, channel adapters (signed webhooks, local sink) and staff tasks.

Delivery knows nothing about rules: the automation engine queues messages and opens
tasks here, and hands the dispatcher a gate that re-checks consent at send time.
"""

from molar.delivery.address import resolve_address
from molar.delivery.channels import (
    Channel,
    DeliveryRequest,
    LocalSink,
    SendOutcome,
    WebhookChannel,
    channels_from_settings,
    sign,
    verify_signature,
)
from molar.delivery.outbox import (
    DispatchPolicy,
    DispatchResult,
    GateDecision,
    OutboxMessage,
    dispatch,
    enqueue,
    get_message,
    list_messages,
    message_id_for,
)
from molar.delivery.tasks import StaffTask, create_task, list_tasks, resolve_task

__all__ = [
    "Channel", "DeliveryRequest", "DispatchPolicy", "DispatchResult", "GateDecision", "LocalSink",
    "OutboxMessage", "SendOutcome", "StaffTask", "WebhookChannel", "channels_from_settings", "create_task",
    "dispatch", "enqueue", "get_message", "list_messages", "list_tasks", "message_id_for", "resolve_address",
    "resolve_task", "sign", "verify_signature",
]
