"""``riskstream forget``: erase one patient (the data-protection officer's request)."""

from __future__ import annotations

import typer

from riskstream.app.cli.output import echo, fails_cleanly
from riskstream.core.settings import load_settings


@fails_cleanly
def forget(
    patient_id: str = typer.Argument(..., help="The patient id as the clinic sent it."),
    reason: str = typer.Option("erasure request", help="Why, for the audit record."),
    actor: str = typer.Option("", help="Who acts (default: user@host)."),
) -> None:
    """Erase one patient: destroy their data keys (their features in labeled examples can
    never be read again; training, the learner and backtests skip them), delete the joiner's
    cache of them, and record the request on the audit topic (references only, never the
    id)."""
    from riskstream.app.tools.forget import forget as erase

    done = erase(load_settings(), patient_id, reason, actor)
    echo(
        f"forgot patient {', '.join(done.refs)} (reference): {done.keys_destroyed} data "
        f"key(s) destroyed, {done.cache_entries} cache entries deleted; recorded on the "
        "audit topic. The keys are physically gone once patient-keys is compacted (within "
        "about two days); predictions keep their features until their retention ends."
    )
