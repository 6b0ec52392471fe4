"""The study as a file: a study's whole design as one versioned YAML file, read back into a
new study, with the design hash that the report prints (docs/study-file.md).

- `writer.study_file(study)`: the file of a study's design as it stands;
- `reader.read_study_file(data)`: a file's design in normal form, or every problem by line
  and field (`StudyFileRejected`);
- `create.study_create_from_file(data=..., by=...)`: a new study from a file, all or nothing;
- `schema.schema()`: the JSON Schema every file is validated against.
"""
