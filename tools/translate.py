#!/usr/bin/env python3
"""Fill French and Dutch translations from a JSON file {msgid: [fr, nl]} (plurals: [[fr1, fr2], [nl1, nl2]])."""
import json, sys, polib
table = json.load(open(sys.argv[1]))
for i, lang in enumerate(("fr", "nl")):
    path = f"locale/{lang}/LC_MESSAGES/django.po"
    po = polib.pofile(path, wrapwidth=79)
    done = 0
    for e in po:
        if e.obsolete or e.msgid not in table:
            continue
        value = table[e.msgid][i]
        if e.msgid_plural:
            e.msgstr_plural = {0: value[0], 1: value[1]}
        else:
            e.msgstr = value
        if "fuzzy" in e.flags:
            e.flags.remove("fuzzy")
        e.previous_msgid = None
        e.previous_msgid_plural = None
        done += 1
    po.save(path)
    print(lang, done)
