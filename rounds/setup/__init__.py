"""The study setup wizard: a coordinator creates a study in six steps.

basics (languages, titles, contact) → criteria (scales, bands, anchor labels) → protocol
(consensus rule per criterion, item decision rule, stopping rule, feedback, with a preview of
how the rules classify example distributions) → items → panel → review; then `study_create`
writes everything in one transaction.

Each step is a form (the criteria step a formset) whose fields depend on earlier steps
through `StudySetupWizard.get_form_kwargs`. The session keeps each step's raw POST data, as
formtools does; an uploaded file is kept base64-encoded in its step's stored data (never in
the page), so no file storage is needed and the final revalidation re-parses exactly the
bytes the coordinator chose.

The first step also offers to start from a study file instead (`from_file`): the whole
design in one YAML file, reviewed on one page and created in one step.
"""

from __future__ import annotations

from rounds.setup import from_file
from rounds.setup.wizard import StudySetupWizard

__all__ = ["StudySetupWizard", "from_file"]
