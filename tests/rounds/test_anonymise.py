"""Comments lose e-mail addresses and panelists' full names, and nothing else."""

from __future__ import annotations

from rounds.anonymise import Scrubber


def test_it_removes_e_mail_addresses() -> None:
    scrub = Scrubber()

    assert scrub("write to jan.peeters+gp@kce.fgov.be today") == ("write to [e-mail removed] today")


def test_it_removes_full_names_in_any_case_and_spacing() -> None:
    scrub = Scrubber(["Jan Peeters", "Marie-Claire Dubois"])

    text = scrub("Ask JAN  peeters, or marie-claire Dubois.")

    assert text == "Ask [name removed], or [name removed]."


def test_it_matches_whole_words_only() -> None:
    scrub = Scrubber(["Simulated GP 1", "Ann"])

    assert scrub("Simulated GP 12 and Anne, not Simulated GP 1") == (
        "Simulated GP 12 and Anne, not [name removed]"
    )


def test_it_leaves_a_comment_without_names_untouched() -> None:
    scrub = Scrubber(["Jan Peeters"])

    assert scrub("Useful, but who pays for it?") == "Useful, but who pays for it?"


def test_its_cost_does_not_depend_on_the_size_of_the_panel() -> None:
    scrub = Scrubber([f"Person Number{i} Smith" for i in range(5000)])

    assert scrub("Person Number4321 Smith agrees") == "[name removed] agrees"
