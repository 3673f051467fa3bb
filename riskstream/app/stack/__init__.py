"""The local stack: a genuine Apache Kafka broker (KRaft) and redis-server, run as child
processes under the state dir, for machines without a Docker engine."""

from riskstream.app.stack.manager import ServiceStatus, stack_down, stack_status, stack_up

__all__ = ["ServiceStatus", "stack_down", "stack_status", "stack_up"]
