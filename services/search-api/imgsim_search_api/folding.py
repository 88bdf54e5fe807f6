"""Filters that match the way people type: any case, any accents, the start of any word.

Elasticsearch folds accents with the `asciifolding` filter of its `analysis-common` module, which
the native integration-test distribution lacks, and a folded copy written at ingestion would
leave every index built before it unfolded. So the folding happens in the query: the typed text
is folded ("Dalí" -> "dali") and each letter becomes the class of the letters that fold to it
("d[aàáâãäåāăą...]l[iìíîïĩīĭįı...]"), searched as one `regexp` query on the keyword field, which
both distributions run. The regular expression is Lucene's, not Python's: only `.`, `*`, `[...]`,
`(...|...)` are used, and every other character that is not a letter or digit is escaped.
"""

import unicodedata
from functools import cache
from typing import Any, Final

# Letters with no decomposition to an ASCII base, and ligatures, as a person would type them.
_PLAIN: Final = {"ø": "o", "đ": "d", "ð": "d", "ł": "l", "ı": "i", "ħ": "h", "ŧ": "t"}
_LIGATURES: Final = {"æ": "ae", "œ": "oe", "ß": "ss", "ẞ": "ss"}
# The accented letters a class lists: Latin-1 Supplement and Latin Extended-A (the languages of
# Western, Central and Northern Europe and Turkish), and Romanian's comma-below letters.
_ACCENTED: Final = tuple(chr(c) for c in range(0xC0, 0x180)) + ("ș", "Ș", "ț", "Ț")
# Where a word starts inside a value: "kept" finds "Nobody Kept", "baptiste" "Jean-Baptiste".
_WORD_BREAKS: Final = " -(/'’"
# Elasticsearch's default `index.max_regex_length`: a longer expression is refused. A value
# whose expression would be longer is matched without accent tolerance (`_case_only`).
MAX_REGEX_LENGTH: Final = 1000


def fold(text: str) -> str:
    """`text` in lower case without accents: "Dürer" -> "durer", "Ærø" -> "aero"."""
    folded = []
    for char in text.lower():
        if char in _LIGATURES:
            folded.append(_LIGATURES[char])
        elif char in _PLAIN:
            folded.append(_PLAIN[char])
        else:
            decomposed = unicodedata.normalize("NFKD", char)
            bare = "".join(c for c in decomposed if not unicodedata.combining(c))
            # Only Latin letters lose their marks: "й" is a letter of its own in Russian.
            folded.append(bare if bare.isascii() else char)
    return "".join(folded)


@cache
def _variants() -> dict[str, str]:
    """Each ASCII letter and the accented letters (both cases) that fold to it."""
    found: dict[str, str] = {}
    for char in _ACCENTED:
        base = fold(char)
        if len(base) == 1 and base.isascii() and base.isalpha():
            found[base] = found.get(base, "") + char
    return found


@cache
def _ligatures_of() -> dict[str, str]:
    """ "ae" -> "æÆ": the ligatures (both cases) that stand for two letters."""
    found: dict[str, str] = {}
    for char, letters in _LIGATURES.items():
        # "ß".upper() is "SS": the capital sharp s is a ligature of its own in the table.
        capital = char.upper() if len(char.upper()) == 1 else ""
        found[letters] = found.get(letters, "") + "".join(dict.fromkeys(char + capital))
    return found


def _letter(char: str) -> str:
    accented = _variants().get(char)
    if accented:
        return f"[{char}{accented}]"
    if char.isalnum():
        # ASCII case is the query's `case_insensitive`; other scripts' case is spelt out.
        return f"[{char}{char.upper()}]" if char.upper() != char and not char.isascii() else char
    return "\\" + char


def accent_pattern(text: str) -> str:
    """The Lucene regular expression of the letters of `text` in any accents (not anchored)."""
    folded = fold(text)
    parts = []
    i = 0
    while i < len(folded):
        pair = folded[i : i + 2]
        if pair in _ligatures_of():
            parts.append(f"({_letter(pair[0])}{_letter(pair[1])}|[{_ligatures_of()[pair]}])")
            i += 2
        else:
            parts.append(_letter(folded[i]))
            i += 1
    return "".join(parts)


def word_start_query(field: str, text: str) -> dict[str, Any]:
    """A value of `field` that is `text`, starts with it, or has a word that starts with it, in
    any case and any accents."""
    value = text.strip()
    breaks = "".join("\\" + c for c in _WORD_BREAKS)
    expression = f"(.*[{breaks}])?{accent_pattern(value)}.*"
    if len(expression) > MAX_REGEX_LENGTH:
        return _case_only(field, value)
    return {
        "regexp": {
            field: {"value": expression, "flags": "NONE", "case_insensitive": True},
        }
    }


def _case_only(field: str, value: str) -> dict[str, Any]:
    """The same match, forgiving case but not accents, for a value too long to spell out."""
    escaped = value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")
    return {
        "bool": {
            "should": [
                {"prefix": {field: {"value": value, "case_insensitive": True}}},
                {"wildcard": {field: {"value": f"* {escaped}*", "case_insensitive": True}}},
            ],
            "minimum_should_match": 1,
        }
    }
