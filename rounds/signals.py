"""Events of the core that the layers above act on, without the core importing them.

`invitations_requested` is sent inside the transaction that invites panelists to a round
(the round opens, or panelists join an open round), so a receiver that records e-mails
records them atomically with the invitation; the panelists app sends them.
"""

from __future__ import annotations

from django.dispatch import Signal

invitations_requested = Signal()
"""sender=Round; kwargs: round (Round), panelist_ids (list[int])."""

proposals_invitations_requested = Signal()
"""sender=ProposalRound; kwargs: proposal_round, panelist_ids (list[int]). Round 0 opens."""

round_submitted = Signal()
"""sender=Round; kwargs: round (Round), panelist (Panelist). Sent on a first submission."""

panelist_data_requested = Signal()
"""sender=Panelist; kwargs: panelist. Each receiver returns {section name: JSON-able data}
for an access request (rounds.privacy.panelist_data)."""

panelist_erased = Signal()
"""sender=Panelist; kwargs: panelist (already erased). Sent inside the erasure's transaction:
receivers remove what they keep about the panelist (links, e-mails)."""
