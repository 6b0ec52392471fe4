"""A posted step read without its form says the same as the form: the answers to save and
whether the step is complete (fuzzed with hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from panelists import questionnaire
from panelists.forms import StepForm, comment_name, rating_name, read_posted
from rounds import answers
from rounds.models import Panelist
from tests.factories import make_study
from tests.panelists.test_wizard import open_round

pytestmark = pytest.mark.django_db

RAW = st.one_of(
    st.sampled_from(["", "1", "5", "9", "dk", "0", "10", "07", " 7", "7.0", "+7", "-1", "x"]),
    st.text(max_size=3),
)
COMMENT = st.one_of(st.just(""), st.text(max_size=20), st.just(" " * 3 + "ok" + " " * 3))


@pytest.fixture
def step_of_study() -> tuple[questionnaire.Step, object]:
    study = make_study(n_items=3, n_panelists=1)
    round = open_round(study)
    panelist: Panelist = study.panelists.get()
    participation = answers.participation_of(panelist, round)
    q = questionnaire.build(panelist, round, participation, feedback=False, answers=False)
    return q.steps[0], study.protocol


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), allow_dont_know=st.booleans())
def test_reading_the_post_matches_the_form(
    step_of_study: tuple[questionnaire.Step, object], data: st.DataObject, allow_dont_know: bool
) -> None:
    step, protocol = step_of_study
    protocol.allow_dont_know = allow_dont_know  # type: ignore[attr-defined]
    post = {}
    for entry in step.entries:
        for cell in entry.cells:
            post[f"{step.name}-{rating_name(entry, cell)}"] = data.draw(RAW)
            post[f"{step.name}-{comment_name(entry, cell)}"] = data.draw(COMMENT)
    form = StepForm(post, step=step, protocol=protocol, prefix=step.name)
    read = read_posted(step, post, step.name, protocol)  # type: ignore[arg-type]
    assert read.answers == form.answers(partial=True)
    assert read.complete == form.is_valid()
