"""Everything that publishes into riskstream: the patient simulator and file publishers."""
