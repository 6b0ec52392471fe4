"""A broken study file: every problem names its line and field, and nothing is created."""

from __future__ import annotations

import pytest
import yaml
from django.utils import translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rounds.studyfile.problems import StudyFileRejected
from rounds.studyfile.reader import read_study_file

GOOD = """\
format_version: 1
study:
  slug: my-study
  title: {fr: Mon étude, en: My study}
  languages: [fr, en]
  report_language: en
criteria:
  - code: acceptability
    name: {fr: Acceptabilité, en: Acceptability}
    scale: {min: 1, max: 9}
    rule: percent:75
  - code: priority
    name: {fr: Priorité, en: Priority}
    scale: {min: 1, max: 5}
protocol:
  accept_rule: acceptability = in
items:
  - code: A1
    text: {fr: Faire ceci, en: Do this}
  - code: A2
    text: {fr: Faire cela, en: Do that}
    derived_from: [A1]
"""


def problems(text: str) -> list[tuple[int | None, str, str]]:
    with pytest.raises(StudyFileRejected) as caught:
        read_study_file(text.encode("utf-8"))
    return [(p.line, p.field, p.message) for p in caught.value.problems]


def test_the_good_file_is_good() -> None:
    assert read_study_file(GOOD.encode()).document["items"][1]["derived_from"] == ["A1"]


def test_a_misspelt_field_is_named_with_its_line_and_the_likely_spelling() -> None:
    ((line, field, message),) = problems(
        GOOD.replace("    rule: percent:75", "    rulle: percent:75")
    )
    assert (line, field) == (11, "criteria[1].rulle")
    assert "did you mean “rule”" in message


def test_a_value_of_the_wrong_type_is_named() -> None:
    ((line, field, message),) = problems(GOOD.replace("{min: 1, max: 9}", "{min: 1, max: nine}"))
    assert (line, field) == (10, "criteria[1].scale.max")
    assert message == "expected a whole number, found “nine”."


def test_a_missing_field_is_named_at_the_line_of_its_parent() -> None:
    text = GOOD.replace("    name: {fr: Priorité, en: Priority}\n", "")
    ((line, field, message),) = problems(text)
    assert (line, field) == (12, "criteria[2].name")
    assert "missing" in message


def test_a_rule_that_is_not_a_rule_is_named() -> None:
    ((line, field, message),) = problems(GOOD.replace("percent:75", "percent:40"))
    assert (line, field) == (11, "criteria[1].rule")
    assert "“percent:40” is not a consensus rule" in message


def test_the_rand_rule_off_the_1_to_9_scale_is_refused() -> None:
    text = GOOD.replace("scale: {min: 1, max: 5}", "scale: {min: 1, max: 5}\n    rule: rand")
    ((line, field, message),) = problems(text)
    assert (line, field) == (15, "criteria[2].rule")
    assert "1–9" in message


def test_bands_that_do_not_fit_the_scale_are_named() -> None:
    text = GOOD.replace(
        "{min: 1, max: 9}", "{min: 1, max: 9}\n    bands: {low_max: 6, high_min: 5}"
    )
    ((line, field, _message),) = problems(text)
    assert (line, field) == (11, "criteria[1].bands")


def test_a_decision_rule_naming_an_unknown_criterion_is_named() -> None:
    ((line, field, message),) = problems(GOOD.replace("acceptability = in", "feasibility = in"))
    assert (line, field) == (16, "protocol.accept_rule")
    assert "“feasibility”" in message and "acceptability, priority" in message


def test_two_items_with_one_code_are_named() -> None:
    ((line, field, message),) = problems(GOOD.replace("  - code: A2", "  - code: a1"))
    assert (line, field) == (20, "items[2].code")
    assert "items[1] already has the code" in message


def test_lineage_to_an_unknown_item_is_named() -> None:
    ((line, field, message),) = problems(GOOD.replace("derived_from: [A1]", "derived_from: [A9]"))
    assert (line, field) == (22, "items[2].derived_from[1]")
    assert "“A9”" in message


def test_a_text_missing_in_a_language_of_the_study_is_named() -> None:
    ((line, field, message),) = problems(
        GOOD.replace("{fr: Faire cela, en: Do that}", "{en: Do that}")
    )
    assert (line, field) == (21, "items[2].text")
    assert "French (fr)" in message


def test_every_problem_is_listed_at_once_in_line_order() -> None:
    text = GOOD.replace("slug: my-study", "slug: My Study").replace("max: 9", "max: 30")
    found = problems(text)
    assert [(line, field) for line, field, _m in found] == [
        (3, "study.slug"),
        (10, "criteria[1].scale"),
    ]


def test_a_structural_and_a_semantic_problem_are_listed_together() -> None:
    text = GOOD.replace("    rule: percent:75", "    rulle: percent:75").replace(
        "{fr: Faire cela, en: Do that}", "{en: Do that}"
    )
    assert [(line, field) for line, field, _m in problems(text)] == [
        (11, "criteria[1].rulle"),
        (21, "items[2].text"),
    ]


def test_a_broken_criterion_does_not_make_the_decision_rule_wrong_too() -> None:
    text = GOOD.replace("  - code: acceptability\n", "  - code: 1acceptability\n")
    assert [field for _line, field, _m in problems(text)] == ["criteria[1].code"]


def test_a_yaml_syntax_error_gives_its_line() -> None:
    ((line, field, message),) = problems(
        GOOD.replace("  languages: [fr, en]", "  languages: [fr, en")
    )
    assert line in (5, 6) and field == ""
    assert "not valid YAML" in message


def test_a_field_given_twice_is_named() -> None:
    ((line, field, message),) = problems(
        GOOD.replace("  report_language: en", "  report_language: en\n  report_language: fr")
    )
    assert (line, field) == (7, "study.report_language")
    assert "twice" in message


def test_anchors_and_aliases_are_refused() -> None:
    text = GOOD.replace("{fr: Mon étude, en: My study}", "&t {fr: Mon étude, en: My study}")
    text += "  - code: A3\n    text: *t\n"
    ((line, _field, message),) = problems(text)
    assert line == 24
    assert "aliases" in message


def test_another_format_version_is_refused_with_both_versions() -> None:
    ((line, field, message),) = problems(GOOD.replace("format_version: 1", "format_version: 2"))
    assert (line, field) == (1, "format_version")
    assert "version 2" in message and "version 1" in message


def test_a_number_where_text_belongs_says_to_quote_it() -> None:
    ((line, field, message),) = problems(GOOD.replace("code: A1\n", "code: 12\n"))
    assert (line, field) == (18, "items[1].code")
    assert "quotes" in message


def test_a_file_that_is_not_utf8_names_the_line() -> None:
    data = GOOD.replace("Faire cela", "Faire \udce9a").encode("utf-8", "surrogateescape")
    with pytest.raises(StudyFileRejected) as caught:
        read_study_file(data)
    assert caught.value.problems[0].line == 21
    assert "UTF-8" in caught.value.problems[0].message


def test_an_empty_file_is_refused() -> None:
    assert problems("# nothing but a comment\n") == [(None, "", "The file is empty.")]


def test_a_file_that_is_a_list_is_refused() -> None:
    ((line, field, message),) = problems("- a\n- b\n")
    assert line == 1 and field == ""
    assert "a group of fields" in message


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(value: object, path: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, sub in value.items():
            found += _paths(sub, (*path, key))
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            found += _paths(sub, (*path, index))
    return found


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_part_replaced_by_anything_is_read_or_refused_never_crashes(
    data: st.DataObject,
) -> None:
    document = yaml.safe_load(GOOD)
    paths = [p for p in _paths(document) if p]
    path = data.draw(st.sampled_from(paths))
    target = document
    for part in path[:-1]:
        target = target[part]  # type: ignore[index]
    target[path[-1]] = data.draw(JSON)  # type: ignore[index]
    try:
        read_study_file(yaml.safe_dump(document, allow_unicode=True).encode())
    except StudyFileRejected as rejected:
        assert rejected.problems and all(str(p) for p in rejected.problems)


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "fr",
            "ligne 11, champ criteria[1].rulle\u00a0: ce champ n'existe pas ici\u00a0; "
            "vouliez-vous dire «\u00a0rule\u00a0»\u00a0?",
        ),
        ("nl", "regel 11, veld criteria[1].rulle: dit veld bestaat hier niet; bedoelde u “rule”?"),
    ],
)
def test_problems_are_told_in_french_and_dutch(language: str, expected: str) -> None:
    with translation.override(language), pytest.raises(StudyFileRejected) as caught:
        read_study_file(GOOD.replace("    rule: percent:75", "    rulle: percent:75").encode())
    with translation.override(language):
        assert str(caught.value.problems[0]).startswith(expected)


def test_a_number_no_json_reader_holds_exactly_is_refused() -> None:
    text = GOOD.replace(
        "    derived_from: [A1]", "    derived_from: [A1]\n    metadata: {n: 1152921504606846976}"
    )
    ((line, field, message),) = problems(text)
    assert (line, field) == (23, "items[2].metadata.n")
    assert "no JSON reader holds 1152921504606846976 exactly" in message


def test_a_control_character_in_a_text_is_named() -> None:
    ((line, field, message),) = problems(
        GOOD.replace("{fr: Faire ceci, en: Do this}", '{fr: Faire ceci, en: "Do\\x07 this"}')
    )
    assert (line, field) == (19, "items[1].text.en")
    assert "control character" in message
