"""The monitors' pure statistics and policies: drift, quality and performance verdicts, the
window fields, performance estimated before labels, live evidence, alerts, the retrain
trigger's and the notifier's policies. No I/O; the processors in ``stream_processors/`` call
them."""
