"""The ground floor: settings, errors, ids, logging, the topic catalog and small containers; it
imports nothing of riskstream's above it."""
